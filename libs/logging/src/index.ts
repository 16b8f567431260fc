// The face of libs/logging: what other libs, the apps and the tests use. Import it as '#libs/logging'.
export {
  accessLevel,
  createAccessLog,
  describeAccess,
  PROBE_ROUTES,
  type AccessLog,
  type AccessRecord,
} from './access-log.js';
export { exitOnFatalErrors, failStartup, routeConsoleToJson, structuredLine } from './json-console.js';
export {
  defaultLogFormat,
  enabledLevels,
  LOG_FORMATS,
  LOG_LEVELS,
  processLogger,
  type LogFormat,
  type LogLevel,
  type LogSettings,
} from './log-settings.js';
export { REQUEST_ID_HEADER, requestIdFrom, type RequestIdSource } from './request-id.js';

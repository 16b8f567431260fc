// The face of libs/logging: what other libs, the apps and the tests use. Import it as '#libs/logging'.
export { exitOnFatalErrors, failStartup, routeConsoleToJson } from './json-console.js';

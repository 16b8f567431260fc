import { defaultLogFormat, LOG_FORMATS, LOG_LEVELS, type LogSettings } from '#libs/logging';
import { EnvReader } from './env-reader.js';

/**
 * LOG_FORMAT and LOG_LEVEL, read on their own: a process parses them before the rest of its config, so
 * that even a config error is printed in the format asked for. Without LOG_FORMAT a terminal gets readable
 * lines and anything else (a pipe, a container, a file) JSON.
 */
export function loadLogConfig(
  env: Record<string, string | undefined> = process.env,
  terminal = process.stdout.isTTY === true,
): LogSettings {
  const e = new EnvReader(env);
  return {
    format: e.oneOf('LOG_FORMAT', LOG_FORMATS, defaultLogFormat(terminal)),
    level: e.oneOf('LOG_LEVEL', LOG_LEVELS, 'log'),
  };
}

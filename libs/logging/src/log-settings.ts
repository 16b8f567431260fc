import { ConsoleLogger, type LogLevel as NestLogLevel } from '@nestjs/common';

/** `json`: one JSON object a line, for a log pipeline. `pretty`: colored, human-readable, for a terminal. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Nest's level names, most severe first: a level shows itself and everything above it. */
export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How a process logs (LOG_FORMAT, LOG_LEVEL; parsed in libs/config). */
export interface LogSettings {
  format: LogFormat;
  level: LogLevel;
}

/** The default format: readable on a terminal, JSON everywhere else (a pipe, a container, a file). */
export function defaultLogFormat(terminal: boolean): LogFormat {
  return terminal ? 'pretty' : 'json';
}

/** The Nest levels a process at `level` prints; fatal always. */
export function enabledLevels(level: LogLevel): NestLogLevel[] {
  return ['fatal', ...LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1)];
}

/**
 * The process's Nest logger. JSON is Nest's own ConsoleLogger line ({level, pid, timestamp, message, context}),
 * the envelope every log line of this project has; pretty is Nest's colored text, prefixed with the process
 * (`npm start` runs the API and a worker on one terminal).
 */
export function processLogger(name: string, settings: LogSettings): ConsoleLogger {
  const logLevels = enabledLevels(settings.level);
  return settings.format === 'json'
    ? new ConsoleLogger({ json: true, logLevels })
    : new ConsoleLogger({ prefix: name, colors: true, logLevels });
}

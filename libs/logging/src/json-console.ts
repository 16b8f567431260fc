import { format } from 'node:util';

type ConsoleMethod = 'log' | 'info' | 'warn' | 'error' | 'debug' | 'trace';

const LEVEL: Record<ConsoleMethod, string> = {
  log: 'log',
  info: 'log',
  warn: 'warn',
  error: 'error',
  debug: 'debug',
  trace: 'verbose',
};
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * One JSON line like Nest's ConsoleLogger({json: true}) writes: level, pid, timestamp, message, context.
 * A line that is already a JSON object passes through unchanged.
 */
export function jsonLine(level: string, context: string, args: unknown[]): string {
  const text = format(...args).replace(ANSI, '');
  if (text.startsWith('{')) {
    try {
      if (typeof JSON.parse(text) === 'object') return text;
    } catch {
      // not JSON after all: wrapped below
    }
  }
  return JSON.stringify({ level, pid: process.pid, timestamp: Date.now(), message: text, context });
}

/**
 * One structured line in the same envelope, for a process that logs without Nest (the launcher): `message` holds
 * `msg` and the fields, as Nest's logger writes an object message.
 */
export function structuredLine(
  level: string,
  context: string,
  msg: string,
  fields: Record<string, unknown> = {},
): string {
  return JSON.stringify({ level, pid: process.pid, timestamp: Date.now(), message: { msg, ...fields }, context });
}

/**
 * Makes every line this process writes through `console` a JSON line. Nest's logger is already JSON;
 * libraries print plain text through console: node-llama-cpp (llama.cpp's own log, binary fallbacks),
 * BullMQ warnings. Each becomes {"level", "context", "message"} with its text, so a log pipeline that
 * parses JSON sees every line. Libraries are never asked to log content (node-llama-cpp stays at its
 * default "warn" level; the openai SDK runs with logLevel "off").
 */
export function routeConsoleToJson(context: string): void {
  for (const method of Object.keys(LEVEL) as ConsoleMethod[]) {
    const stream = method === 'log' || method === 'info' || method === 'debug' ? process.stdout : process.stderr;
    console[method] = (...args: unknown[]) => {
      stream.write(`${jsonLine(LEVEL[method], context, args)}\n`);
    };
  }
}

/**
 * Start-up failures and anything thrown outside a handler end the process with one JSON line naming
 * the error (its class and message: config errors name the variable, never a secret's value) instead
 * of Node's multi-line stack trace.
 */
export function exitOnFatalErrors(context: string): void {
  const fatal = (kind: string) => (err: unknown) => {
    process.stderr.write(`${jsonLine('fatal', context, [describeError(`${kind}`, err)])}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
}

/** Logs a start-up failure as JSON and exits 1. */
export function failStartup(context: string, err: unknown): never {
  process.stderr.write(`${jsonLine('fatal', context, [describeError('start-up failed', err)])}\n`);
  process.exit(1);
}

function describeError(what: string, err: unknown): string {
  return `${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
}

import { pino, type Level, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { LogLevel, LogSettings } from './log-settings.js';

/**
 * One API request as its access line records it. Built field by field from an allowlist: no header, URL,
 * query string or body is ever copied in, so an `Authorization` or `X-Api-Key` value, an id in a path or a
 * document in a body cannot reach the log through it.
 */
export interface AccessRecord {
  method: string;
  /** The route pattern (`/v1/batches/:id`), never the URL; null when no route matched (a 404). */
  route: string | null;
  status: number;
  /** From the request's arrival to the last byte of its answer (or to the client going away). */
  ms: number;
  /** The API key that made the request; null in open mode, or when the key was missing or refused. */
  keyId: string | null;
  tenant: string | null;
  requestId: string;
  /** Present when the caller sent an X-Request-Id that was not kept (see requestIdFrom). */
  requestIdReplaced?: true;
  /** Present when the client went away before the answer was complete. */
  aborted?: true;
}

export interface AccessLog {
  write(record: AccessRecord): void;
}

/**
 * Routes that orchestrators and scrapers call every few seconds: one info line each would bury the
 * requests people make (a kubelet's probes alone are two a second per pod). They log at debug, and are not
 * traced (libs/telemetry). `/ready/api` is the readiness probe the Kubernetes manifests ship.
 */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/health', '/ready', '/ready/api', '/metrics']);

/** Probes at debug, server errors at error, everything else (4xx included: the caller's mistake) at info. */
export function accessLevel(record: Pick<AccessRecord, 'route' | 'status'>): 'debug' | 'info' | 'error' {
  if (record.route !== null && PROBE_ROUTES.has(record.route)) return 'debug';
  return record.status >= 500 ? 'error' : 'info';
}

/** The line a terminal shows: `POST /v1/batches 202 14ms key=k1 tenant=acme req=…`. */
export function describeAccess(r: AccessRecord): string {
  const flags = [r.aborted ? 'aborted' : '', r.requestIdReplaced ? 'request id replaced' : ''].filter(Boolean);
  return (
    `${r.method} ${r.route ?? '(no route)'} ${r.status} ${r.ms}ms key=${r.keyId ?? '-'} tenant=${r.tenant ?? '-'} ` +
    `req=${r.requestId}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`
  );
}

/**
 * Credentials a header may carry. AccessRecord holds no headers; should a later change log them, pino
 * censors these before the line is written (a second wall, not the first).
 */
const REDACTED_PATHS = ['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie', 'set-cookie'].map(
  (h) => `message.headers["${h}"]`,
);

/** Nest's names for pino's levels, so an access line reads like every other line. */
const PINO_LEVEL: Record<LogLevel, Level> = {
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * The API's access log on pino. JSON lines keep the envelope of the rest of the process's lines — {level,
 * timestamp, pid, message, context: "access"} with Nest's level names — so one pipeline query reads both;
 * on a terminal pino-pretty prints one readable line per request.
 */
export function createAccessLog(settings: LogSettings, destination: NodeJS.WritableStream = process.stdout): AccessLog {
  const level = PINO_LEVEL[settings.level];
  const logger: Logger =
    settings.format === 'json'
      ? pino(
          {
            level,
            base: { pid: process.pid },
            timestamp: () => `,"timestamp":${Date.now()}`,
            formatters: { level: (label) => ({ level: label === 'info' ? 'log' : label }) },
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
          },
          destination,
        )
      : pino(
          { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
          PinoPretty({
            destination,
            sync: true,
            colorize: process.stdout.isTTY === true,
            translateTime: 'SYS:HH:MM:ss.l',
            ignore: 'pid,hostname,message,context',
            messageFormat: (log) => `[access] ${describeAccess(log.message as AccessRecord)}`,
          }),
        );
  return {
    write(record) {
      logger[accessLevel(record)]({ message: { msg: 'request', ...record }, context: 'access' });
    },
  };
}

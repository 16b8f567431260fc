import type { NextFunction, Request, Response } from 'express';
import { metrics } from '#libs/metrics';

/** Bull Board's many paths (its UI, assets, per-queue API) are one route for metrics. */
const BULL_BOARD = '/admin/queues';

/**
 * Express middleware that measures every API request once it is answered: method, the route *pattern*
 * (`/v1/batches/:id`, never the path, which holds ids), status and latency (switchyard_http_*). Mounted
 * first, so requests refused before routing (no key, a body too large) count too, as `unmatched`.
 */
export function requestMetrics() {
  return (req: Request, res: Response, next: NextFunction): void => {
    const start = process.hrtime.bigint();
    res.once('finish', () =>
      metrics.httpRequest(req.method, routeOf(req), res.statusCode, Number(process.hrtime.bigint() - start) / 1e9),
    );
    next();
  };
}

function routeOf(req: Request): string {
  if (req.originalUrl === BULL_BOARD || req.originalUrl.startsWith(`${BULL_BOARD}/`)) return BULL_BOARD;
  const route = req.route as { path?: unknown } | undefined;
  return typeof route?.path === 'string' ? route.path : 'unmatched';
}

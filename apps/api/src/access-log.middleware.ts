import type { NextFunction, Request, Response } from 'express';
import { REQUEST_ID_HEADER, requestIdFrom, type AccessLog, type AccessRecord } from '#libs/logging';
import type { AuthedRequest, RequestWithId } from './access-decorators.js';

/**
 * The first middleware of every request: gives it an id (the caller's `X-Request-Id` when it passes
 * requestIdFrom, else a new UUID), echoes that id on the answer, and writes one access line when the answer
 * is complete or the client goes away. Registered ahead of the body parser and authentication, so a 401, 413
 * or 400 refused there gets its line and its id too.
 */
export function accessLogMiddleware(log: AccessLog) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const { id, source } = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
    (req as RequestWithId).requestId = id;
    res.setHeader('X-Request-Id', id);
    // 'close' follows 'finish' on a complete answer and comes alone when the connection is cut first.
    res.once('close', () => {
      const { caller } = req as AuthedRequest;
      const record: AccessRecord = {
        method: req.method,
        route: routePattern(req),
        status: res.statusCode,
        ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
        keyId: caller?.keyId ?? null,
        tenant: caller?.tenant ?? null,
        requestId: id,
      };
      if (source === 'replaced') record.requestIdReplaced = true;
      if (!res.writableFinished) record.aborted = true;
      log.write(record);
    });
    next();
  };
}

/**
 * The pattern of the route that answered (`/v1/batches/:id`, `/admin/queues/api/queues`), as Express
 * matched it; null when none did. The URL itself is not logged: it carries ids and query strings.
 */
function routePattern(req: Request): string | null {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (route?.path === undefined) return null;
  return `${req.baseUrl}${String(route.path)}`;
}

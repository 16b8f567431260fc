import type { NextFunction, Request, Response } from 'express';
import { redisOutage } from '#libs/redis';

/**
 * A request Redis could not serve (it is down, or failing over): a 503 with Retry-After, what clients and SDKs retry,
 * not a 500 that says the server is broken. Seconds: about ioredis's reconnect interval once an outage has lasted.
 */
export const STORE_UNAVAILABLE = {
  retryAfterS: 2,
  message:
    'the job store (Redis) cannot be reached; retry later (a create sent with an Idempotency-Key is safe to retry)',
};

/**
 * Bull Board's JSON while this process is in a Redis outage (redisOutage): a 503. Its calls go through BullMQ's
 * connections, which wait for Redis to come back however long that takes, so an open board's poll hung (the
 * board polls again only once its last call is answered) and it showed the last counts it had as if they were
 * current. A call made during the outage is answered at once, without a command sent; one already waiting when
 * the outage is seen is answered then, and what its handler says once Redis is back goes nowhere.
 */
export function unavailableInOutage(checkEveryMs = 250) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    if (redisOutage.active) return refuse(res);
    const watch = setInterval(() => {
      if (!redisOutage.active || res.headersSent) return;
      clearInterval(watch);
      refuse(res);
      // The handler still holds `res` and answers (or fails) when its commands come back: nothing left to send.
      res.status = () => res;
      res.json = () => res;
      res.send = () => res;
    }, checkEveryMs).unref();
    res.once('close', () => clearInterval(watch));
    next();
  };
}

function refuse(res: Response): void {
  res.setHeader('Retry-After', String(STORE_UNAVAILABLE.retryAfterS));
  res.status(503).json({
    statusCode: 503,
    error: 'Service Unavailable',
    message: 'the job store (Redis) cannot be reached; the board shows the queues again once it is back',
  });
}

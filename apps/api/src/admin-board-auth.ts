import type { NextFunction, Request, Response } from 'express';
import { allows } from '#libs/access/src/api-key.js';
import type { ApiKeyAuthenticator } from '#libs/access/src/api-key-authenticator.js';
import { unauthorized } from './api-key.guard.js';

/**
 * Bull Board is Express middleware mounted by its module, outside Nest's guards, so it gets its own gate:
 * the admin scope, with the same keys and the same open mode as every /v1 route.
 */
export function adminBoardAuth(authenticator: ApiKeyAuthenticator) {
  return (req: Request, res: Response, next: NextFunction): void => {
    authenticator.authenticate(req.headers.authorization).then((outcome) => {
      if (outcome.mode === 'open') return next();
      if (outcome.mode === 'denied') {
        res.status(401).json(unauthorized(res, outcome.reason));
        return;
      }
      if (!allows(outcome.caller.scopes, 'admin')) {
        res.status(403).json({ statusCode: 403, error: 'Forbidden', message: 'this API key lacks the "admin" scope', requiredScope: 'admin' });
        return;
      }
      next();
    }, next);
  };
}

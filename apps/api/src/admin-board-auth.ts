import type { NextFunction, Request, Response } from 'express';
import { allows } from '#libs/access';
import type { ApiKeyAuthenticator } from '#libs/access';
import { unauthorized } from './api-key.guard.js';

/**
 * Bull Board is Express middleware mounted by its module, outside Nest's guards, so it gets its own gate:
 * the admin scope, with the same keys and the same open mode as every /v1 route. A browser cannot send a
 * Bearer header while navigating, so the board also takes the key as the password of HTTP Basic auth
 * (any user name) and asks for it with a Basic challenge.
 */
export function adminBoardAuth(authenticator: ApiKeyAuthenticator) {
  return (req: Request, res: Response, next: NextFunction): void => {
    authenticator.authenticate(bearerOf(req.headers.authorization)).then((outcome) => {
      if (outcome.mode === 'open') return next();
      if (outcome.mode === 'denied') {
        const body = unauthorized(res, outcome.reason);
        res.setHeader('WWW-Authenticate', ['Basic realm="Switchyard admin", charset="UTF-8"', 'Bearer']);
        res.status(401).json(body);
        return;
      }
      if (!allows(outcome.caller.scopes, 'admin')) {
        res.status(403).json({
          statusCode: 403,
          error: 'Forbidden',
          message: 'this API key lacks the "admin" scope',
          requiredScope: 'admin',
        });
        return;
      }
      next();
    }, next);
  };
}

/** `Basic base64(user:key)` → `Bearer key`; anything else unchanged. */
export function bearerOf(authorization: string | undefined): string | undefined {
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!basic) return authorization;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? authorization : `Bearer ${decoded.slice(colon + 1)}`;
}

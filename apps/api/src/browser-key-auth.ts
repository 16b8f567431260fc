import type { NextFunction, Request, Response } from 'express';
import { allows, type Scope } from '#libs/access';
import type { ApiKeyAuthenticator } from '#libs/access';
import { unauthorized } from './api-key.guard.js';

/**
 * The gate for pages a browser navigates to: Bull Board (admin) and the dashboard (read). A browser cannot
 * send a Bearer header while navigating, so these pages also take the key as the password of HTTP Basic auth
 * (any user name) and ask for it with a Basic challenge. The same keys and the same open mode as every /v1
 * route. The key is passed on as a Bearer header, so the guards behind (the dashboard's ApiKeyGuard and
 * RateLimitGuard) see the caller as on any route; Bull Board is Express middleware outside Nest's guards,
 * so for it this gate is the only one.
 */
export function browserKeyAuth(authenticator: ApiKeyAuthenticator, { scope, realm }: { scope: Scope; realm: string }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const authorization = bearerOf(req.headers.authorization);
    authenticator.authenticate(authorization).then((outcome) => {
      if (outcome.mode === 'open') return next();
      if (outcome.mode === 'denied') {
        const body = unauthorized(res, outcome.reason);
        res.setHeader('WWW-Authenticate', [`Basic realm="${realm}", charset="UTF-8"`, 'Bearer']);
        res.status(401).json(body);
        return;
      }
      if (!allows(outcome.caller.scopes, scope)) {
        res.status(403).json({
          statusCode: 403,
          error: 'Forbidden',
          message: `this API key lacks the "${scope}" scope`,
          requiredScope: scope,
        });
        return;
      }
      req.headers.authorization = authorization;
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

import {
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { allows, type Requirement } from '#libs/access';
import { ApiKeyAuthenticator, type AuthOutcome } from '#libs/access';
import { REQUIREMENT, type AuthedRequest, type RequestWithId } from './access-decorators.js';

const DENIAL_MESSAGES: Record<Extract<AuthOutcome, { mode: 'denied' }>['reason'], string> = {
  missing: 'an API key is required: send Authorization: Bearer <key>',
  malformed: 'the Authorization header must be "Bearer <key>"',
  unknown: 'the API key is not valid',
  expired: 'the API key has expired',
  revoked: 'the API key has been revoked',
};

/** The 401 body and header, shared with the Bull Board middleware. */
export function unauthorized(
  res: Response,
  reason: keyof typeof DENIAL_MESSAGES,
): { statusCode: 401; error: string; message: string } {
  res.setHeader('WWW-Authenticate', 'Bearer');
  return { statusCode: 401, error: 'Unauthorized', message: DENIAL_MESSAGES[reason] };
}

/**
 * What the body middleware (api-app.ts authenticatedBodies) already learned of a request's key, so the guard
 * does not ask again: in open mode each ask is a Redis read, and a key's lookup one more (issue 17: two
 * reads per POST, one of them repeated). Held as long as the request object lives.
 */
const authenticated = new WeakMap<object, { authorization: string | undefined; outcome: AuthOutcome }>();

/**
 * Called by the body middleware with the outcome it acted on (never a denial: that request ends there) and
 * the Authorization it authenticated: the guard reuses it only for that very header (the middleware also
 * reads Basic credentials, which the guard refuses).
 */
export function rememberAuthentication(req: object, authorization: string | undefined, outcome: AuthOutcome): void {
  authenticated.set(req, { authorization, outcome });
}

/**
 * Global guard: every route needs the scope its handler declares (admin when it declares none), checked
 * against the caller's API key. In open mode (no key exists yet) every request passes; the process then
 * listens on loopback only (see api-process.ts).
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly log = new Logger('access');

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(ApiKeyAuthenticator) private readonly authenticator: ApiKeyAuthenticator,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const required =
      this.reflector.getAllAndOverride<Requirement | undefined>(REQUIREMENT, [ctx.getHandler(), ctx.getClass()]) ??
      'admin';
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    if (required === 'public') return true;
    const remembered = authenticated.get(req);
    const outcome =
      remembered && remembered.authorization === req.headers.authorization
        ? remembered.outcome
        : await this.authenticator.authenticate(req.headers.authorization);
    if (outcome.mode === 'open') {
      req.caller = null;
      return true;
    }
    if (outcome.mode === 'denied') {
      this.log.warn({
        msg: 'request denied',
        status: 401,
        reason: outcome.reason,
        method: req.method,
        route: routeOf(ctx),
        requestId: (req as RequestWithId).requestId,
      });
      throw new UnauthorizedException(unauthorized(ctx.switchToHttp().getResponse<Response>(), outcome.reason));
    }
    if (!allows(outcome.caller.scopes, required)) {
      this.log.warn({
        msg: 'request denied',
        status: 403,
        keyId: outcome.caller.keyId,
        required,
        method: req.method,
        route: routeOf(ctx),
        requestId: (req as RequestWithId).requestId,
      });
      throw new ForbiddenException({
        statusCode: 403,
        error: 'Forbidden',
        message: `this API key lacks the "${required}" scope`,
        requiredScope: required,
      });
    }
    req.caller = outcome.caller;
    return true;
  }
}

/** The handler's name, not the URL: URLs may carry ids, and nothing here needs them. */
function routeOf(ctx: ExecutionContext): string {
  return `${ctx.getClass().name}.${ctx.getHandler().name}`;
}

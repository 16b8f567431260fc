import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { Caller, Requirement, Scope } from '#libs/access';

export const REQUIREMENT = 'switchyard:requirement';
export const SUBMITS_TOKENS = 'switchyard:submits-tokens';
export const UNMETERED = 'switchyard:unmetered';

/**
 * The scope a handler (or every handler of a controller) needs. A route that declares nothing needs
 * `admin`: a new controller is protected before anyone thinks about it.
 */
export const RequiresScope = (scope: Scope) => SetMetadata(REQUIREMENT, scope satisfies Requirement);

/** Reachable without a key (health probes). */
export const Public = () => SetMetadata(REQUIREMENT, 'public' satisfies Requirement);

/** The handler submits items: their estimated tokens count against the key's tokens per minute. */
export const SubmitsTokens = () => SetMetadata(SUBMITS_TOKENS, true);

/**
 * Not counted against the key's requests per minute, and so answered without Redis: the metrics scrape, which
 * must go on through a Redis outage (when it matters most) and which a monitoring system makes on its own clock.
 */
export const Unmetered = () => SetMetadata(UNMETERED, true);

/** A request once ApiKeyGuard has run: the caller, or null in open mode (no key exists). */
export type AuthedRequest = Request & { caller?: Caller | null };

/** A request once the access log middleware has run: the id it goes by (X-Request-Id, echoed on the answer). */
export type RequestWithId = Request & { requestId?: string };

/** This request's id, to carry into what it starts (a batch's jobs, and so the worker's lines about them). */
export const RequestId = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): string | undefined => ctx.switchToHttp().getRequest<RequestWithId>().requestId,
);

/** The authenticated caller of this request; null in open mode. */
export const CurrentCaller = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): Caller | null => ctx.switchToHttp().getRequest<AuthedRequest>().caller ?? null,
);

import {
  HttpException,
  Inject,
  Injectable,
  PayloadTooLargeException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Response } from 'express';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { effectiveLimits, KeyRateLimiter, type RateDecision } from '#libs/access';
import { submittedTokens } from '#libs/access';
import { SUBMITS_TOKENS, UNMETERED, type AuthedRequest } from './access-decorators.js';

/**
 * Per-key requests and submitted tokens per minute, shared by every replica through Redis. Runs after
 * ApiKeyGuard (registered after it); open mode has no key to count against, so it is not limited, nor is a
 * route marked Unmetered (the metrics scrape).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(KeyRateLimiter) private readonly limiter: KeyRateLimiter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    const caller = req.caller;
    if (!caller) return true;
    if (this.reflector.getAllAndOverride<boolean | undefined>(UNMETERED, [ctx.getHandler(), ctx.getClass()]))
      return true;
    const submits =
      this.reflector.getAllAndOverride<boolean | undefined>(SUBMITS_TOKENS, [ctx.getHandler(), ctx.getClass()]) ===
      true;
    const tokens = submits ? submittedTokens(req.body) : 0;
    const limits = effectiveLimits(this.config.access.rateLimits, caller.limits);
    const decision = await this.limiter.consume(caller.keyId, tokens, limits);
    if (decision.allowed) return true;
    throw overLimit(decision, tokens, ctx.switchToHttp().getResponse<Response>());
  }
}

/** The 413 (never fits) or 429 (retry later, with Retry-After) for a refused request. */
export function overLimit(
  decision: Exclude<RateDecision, { allowed: true }>,
  tokens: number,
  res: Response,
): HttpException {
  if (decision.neverFits) {
    return new PayloadTooLargeException({
      statusCode: 413,
      error: 'Payload Too Large',
      field: 'items',
      limit: decision.limit,
      max: decision.max,
      message:
        `the batch's prompts (items with their instructions, labels or schema) hold about ${tokens} tokens; ` +
        `this API key may submit at most ${decision.max} tokens per minute: split the batch`,
    });
  }
  res.setHeader('Retry-After', String(decision.retryAfterSec));
  const what = decision.limit === 'requestsPerMinute' ? 'requests' : 'submitted tokens';
  return new HttpException(
    {
      statusCode: 429,
      error: 'Too Many Requests',
      limit: decision.limit,
      max: decision.max,
      retryAfterSeconds: decision.retryAfterSec,
      message: `this API key is over its limit of ${decision.max} ${what} per minute; retry in ${decision.retryAfterSec} s`,
    },
    429,
  );
}

import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { OpenAIRequestError } from '#libs/batches';
import { isConnectionError, NotReplicated } from '#libs/redis';
import { STORE_UNAVAILABLE } from '../store-unavailable.js';

/** OpenAI's error body: what the openai SDKs read to raise BadRequestError, NotFoundError, AuthenticationError... */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const CODES: Record<number, string> = {
  401: 'invalid_api_key',
  403: 'insufficient_permissions',
  404: 'not_found',
  413: 'file_too_large',
  429: 'rate_limit_exceeded',
};

/** An OpenAI error body for a status: `invalid_request_error` for a 4xx, `server_error` otherwise, as OpenAI types them. */
export function openAIError(
  status: number,
  message: string,
  param: string | null = null,
  code?: string | null,
): OpenAIErrorBody {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, param, code: code === undefined ? (CODES[status] ?? null) : code } };
}

/**
 * Every answer under /openai/ that is not a success, in OpenAI's shape (issue 16 §1), so a client written against
 * OpenAI gets the exception it expects: the global HttpErrorsFilter hands it every error of such a path, from the
 * OpenAI controllers, their guards (401/403/429) and routes that match no controller.
 * Nothing of the request's content is logged.
 */
@Catch()
export class OpenAIErrorsFilter implements ExceptionFilter {
  private readonly log = new Logger('openai');

  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (err instanceof OpenAIRequestError) {
      // The SDKs retry a 409 (twice, with backoff) unless told: cancelling a finished batch will not succeed later.
      res.setHeader('x-should-retry', String(err.retryable));
      res.status(err.status).json(openAIError(err.status, err.message, err.param, err.code ?? undefined));
      return;
    }
    if (err instanceof NotReplicated) {
      // Written on the master, not yet on enough replicas: not a promise this API makes. The SDK retries a 503
      // after Retry-After; with the same Idempotency-Key a create's retry answers the same batch.
      res.setHeader('retry-after', '1');
      const created = keylessCreate(host.switchToHttp().getRequest<Request>(), err.answer);
      if (!created) {
        res.status(503).json(openAIError(503, err.message, null, 'not_replicated'));
        return;
      }
      // Without a key the SDK's retry would create a second batch, run and charged beside the first (it sends no
      // idempotency key of its own to OpenAI's API): told not to retry, it raises, and the error names the batch.
      res.setHeader('x-should-retry', 'false');
      const why = `${err.message}: ${created} was created and will run unless cancelled; retrieve it rather than create another (a create sent with an Idempotency-Key is safe to retry)`;
      res.status(503).json(openAIError(503, why, null, 'not_replicated'));
      return;
    }
    if (isConnectionError(err)) {
      // The SDKs retry a 503 after Retry-After, as they do OpenAI's own "overloaded" answers.
      res.setHeader('retry-after', String(STORE_UNAVAILABLE.retryAfterS));
      res.status(503).json(openAIError(503, STORE_UNAVAILABLE.message, null, 'store_unavailable'));
      return;
    }
    if (err instanceof HttpException) {
      const status = err.getStatus();
      const body = err.getResponse();
      const message = typeof body === 'string' ? body : String((body as { message?: unknown }).message ?? err.message);
      const field = typeof body === 'object' ? (body as { field?: unknown }).field : undefined;
      res.status(status).json(openAIError(status, message, typeof field === 'string' ? field : null));
      return;
    }
    this.log.error({
      msg: 'unhandled error',
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
    res.status(500).json(openAIError(500, 'internal server error'));
  }
}

/** The id of the batch a create without an Idempotency-Key made, when that is what `req` was; else null. */
function keylessCreate(req: Request, answer: unknown): string | null {
  if (req.method !== 'POST' || !/\/batches\/?$/.test(req.path) || req.headers['idempotency-key'] !== undefined)
    return null;
  const id = (answer as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' ? id : null;
}

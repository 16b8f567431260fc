import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { IdempotencyKeyReused, SubmissionRejected } from '#libs/batches';
import type { RequestWithId } from './access-decorators.js';
import { isConnectionError, NotReplicated } from '#libs/redis';
import { OpenAIErrorsFilter } from './openai/openai-errors.filter.js';
import { STORE_UNAVAILABLE } from './store-unavailable.js';

/** The wrong fields a 400 lists at most; `errorsOmitted` counts the rest. */
export const MAX_FIELD_ERRORS = 100;

/**
 * Turns domain errors into HTTP answers: a rejected submission is a 400 naming the field; anything
 * unexpected is a 500 whose body and log hold the error class and message, never request content.
 */
@Catch()
export class HttpErrorsFilter implements ExceptionFilter {
  private readonly log = new Logger('http');

  private readonly openAI = new OpenAIErrorsFilter();

  catch(err: unknown, host: ArgumentsHost): void {
    // Under /openai/, OpenAI's error shape even where no OpenAI controller ran: an unknown route (GET
    // /openai/v1/models, which tools call to check a key) answered Nest's body, which the SDKs cannot read.
    if (host.switchToHttp().getRequest<RequestWithId>().path.startsWith('/openai/'))
      return this.openAI.catch(err, host);
    const res = host.switchToHttp().getResponse<Response>();
    if (err instanceof SubmissionRejected) {
      const [first] = err.errors;
      // A body of a million unknown keys named each: tens of megabytes of answer, built for one request.
      const omitted = Math.max(0, err.errors.length - MAX_FIELD_ERRORS);
      res.status(400).json({
        statusCode: 400,
        error: 'Bad Request',
        field: first.field,
        message: `${first.field} ${first.message}`,
        errors: omitted > 0 ? err.errors.slice(0, MAX_FIELD_ERRORS) : err.errors,
        ...(omitted > 0 && { errorsOmitted: omitted }),
      });
      return;
    }
    if (err instanceof IdempotencyKeyReused) {
      // As the IETF idempotency-key draft and Stripe answer it: 422, naming the header.
      const message = `Idempotency-Key ${err.message}`;
      res.status(422).json({ statusCode: 422, error: 'Unprocessable Entity', field: 'Idempotency-Key', message });
      return;
    }
    if (err instanceof NotReplicated) {
      // Stored on the master, not yet on enough replicas: not a promise we can make. The batch runs anyway;
      // a retry with the same Idempotency-Key answers the same batch, once replicated.
      res.setHeader('retry-after', '1');
      // A 202's Location was set before the write was found unreplicated: this answer points nowhere.
      res.removeHeader('location');
      res.status(503).json({ statusCode: 503, error: 'Service Unavailable', message: err.message });
      return;
    }
    if (isConnectionError(err)) {
      // Redis's outage is logged once by the process (redisOutage), not once per request.
      res.setHeader('retry-after', String(STORE_UNAVAILABLE.retryAfterS));
      res.removeHeader('location');
      res.status(503).json({ statusCode: 503, error: 'Service Unavailable', message: STORE_UNAVAILABLE.message });
      return;
    }
    if (err instanceof HttpException) {
      const body = err.getResponse();
      res
        .status(err.getStatus())
        .json(typeof body === 'string' ? { statusCode: err.getStatus(), message: body } : body);
      return;
    }
    this.log.error({
      msg: 'unhandled error',
      requestId: host.switchToHttp().getRequest<RequestWithId>().requestId,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    });
    res.status(500).json({ statusCode: 500, error: 'Internal Server Error' });
  }
}

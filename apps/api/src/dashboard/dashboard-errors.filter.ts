import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { isConnectionError } from '#libs/redis';
import { HttpErrorsFilter } from '../http-errors.filter.js';
import { STORE_UNAVAILABLE } from '../store-unavailable.js';
import { renderUnavailablePage } from './dashboard-pages.js';

/**
 * The dashboard's errors: a page a person reads, not JSON, when the job store cannot be reached. Its pages refresh
 * themselves; the 503 JSON that answered an outage had no refresh, so an open dashboard stopped at a line of JSON
 * about Idempotency-Keys and never came back by itself. Every other error is answered as on any route.
 */
@Catch()
export class DashboardErrorsFilter implements ExceptionFilter {
  private readonly others = new HttpErrorsFilter();

  constructor(private readonly refreshSeconds: number) {}

  catch(err: unknown, host: ArgumentsHost): void {
    if (!isConnectionError(err)) return this.others.catch(err, host);
    const res = host.switchToHttp().getResponse<Response>();
    res.setHeader('Retry-After', String(STORE_UNAVAILABLE.retryAfterS));
    res
      .status(503)
      .type('text/html; charset=utf-8')
      .send(renderUnavailablePage({ now: Date.now(), refreshSeconds: this.refreshSeconds }));
  }
}

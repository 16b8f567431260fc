import type { ArgumentsHost } from '@nestjs/common';
import { describe, expect, it } from '@jest/globals';
import { SubmissionRejected } from '#libs/batches';
import { HttpErrorsFilter, MAX_FIELD_ERRORS } from './http-errors.filter.js';

/** The filter's answer to `err`: its status and JSON body. */
function answer(err: unknown): { status: number; body: Record<string, unknown> } {
  const sent = { status: 0, body: {} as Record<string, unknown> };
  const res = {
    status(code: number) {
      sent.status = code;
      return this;
    },
    json(body: Record<string, unknown>) {
      sent.body = body;
      return this;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => res, getRequest: () => ({}) }) } as unknown as ArgumentsHost;
  new HttpErrorsFilter().catch(err, host);
  return sent;
}

describe('HttpErrorsFilter', () => {
  it('names every wrong field of a submission, up to a bound, and counts the rest', () => {
    const few = [{ field: 'deadline', message: 'is in the past' }];
    expect(answer(new SubmissionRejected(few))).toEqual({
      status: 400,
      body: {
        statusCode: 400,
        error: 'Bad Request',
        field: 'deadline',
        message: 'deadline is in the past',
        errors: few,
      },
    });
    // One body of many unknown keys: each is an error, and the answer stays small.
    const many = Array.from({ length: 5_000 }, (_, i) => ({ field: `k${i}`, message: 'is not a known field' }));
    const { status, body } = answer(new SubmissionRejected(many));
    expect(status).toBe(400);
    expect(body.field).toBe('k0');
    expect(body.errors).toEqual(many.slice(0, MAX_FIELD_ERRORS));
    expect(body.errorsOmitted).toBe(5_000 - MAX_FIELD_ERRORS);
  });
});

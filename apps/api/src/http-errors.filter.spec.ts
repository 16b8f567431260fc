import { NotFoundException, PayloadTooLargeException, type ArgumentsHost } from '@nestjs/common';
import { describe, expect, it } from '@jest/globals';
import { SubmissionRejected } from '#libs/batches';
import { HttpErrorsFilter, MAX_FIELD_ERRORS } from './http-errors.filter.js';
import { OpenAIErrorsFilter } from './openai/openai-errors.filter.js';

/** The filter's answer to `err`: its status, headers and JSON body. */
function answer(
  err: unknown,
  filter: HttpErrorsFilter | OpenAIErrorsFilter = new HttpErrorsFilter(),
  path = '/v1/batches',
): { status: number; headers: Record<string, string>; body: Record<string, unknown> } {
  const sent = { status: 0, headers: {} as Record<string, string>, body: {} as Record<string, unknown> };
  const res = {
    setHeader(name: string, value: string) {
      sent.headers[name] = value;
    },
    removeHeader(name: string) {
      delete sent.headers[name];
    },
    status(code: number) {
      sent.status = code;
      return this;
    },
    json(body: Record<string, unknown>) {
      sent.body = body;
      return this;
    },
  };
  const request = { method: 'GET', path, headers: {} };
  const host = {
    switchToHttp: () => ({ getResponse: () => res, getRequest: () => request }),
  } as unknown as ArgumentsHost;
  filter.catch(err, host);
  return sent;
}

describe('HttpErrorsFilter', () => {
  it('names every wrong field of a submission, up to a bound, and counts the rest', () => {
    const few = [{ field: 'deadline', message: 'is in the past' }];
    expect(answer(new SubmissionRejected(few))).toEqual({
      status: 400,
      headers: {},
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

  // What ioredis and BullMQ throw while Redis is down: its retries spent, its connection refused or closed.
  const outage = [
    Object.assign(
      new Error('Reached the max retries per request limit (which is 3). Refer to "maxRetriesPerRequest"'),
      {
        name: 'MaxRetriesPerRequestError',
      },
    ),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
    new Error('Connection is closed.'),
  ];

  it.each(outage)('answers a request Redis could not serve with 503 and Retry-After, not 500 (%s)', (err) => {
    const { status, headers, body } = answer(err);
    expect(status).toBe(503);
    expect(headers['retry-after']).toBe('2');
    expect(body).toMatchObject({
      statusCode: 503,
      error: 'Service Unavailable',
      message: expect.stringMatching(/Redis/),
    });
    // The same in OpenAI's shape, which the SDKs retry after Retry-After.
    const openai = answer(err, new OpenAIErrorsFilter());
    expect(openai.status).toBe(503);
    expect(openai.headers['retry-after']).toBe('2');
    expect(openai.body).toEqual({
      error: { message: expect.stringMatching(/Redis/), type: 'server_error', param: null, code: 'store_unavailable' },
    });
  });

  it('still answers 500 to an error it does not know', () => {
    expect(answer(new TypeError('x is undefined'))).toMatchObject({ status: 500, headers: {} });
  });
});

describe('errors under /openai/', () => {
  it('are in OpenAI’s shape even where no OpenAI controller ran: an unknown route is a 404 the SDKs can read', () => {
    const missing = new NotFoundException('Cannot GET /openai/v1/models');
    expect(answer(missing, new HttpErrorsFilter(), '/openai/v1/models')).toEqual({
      status: 404,
      headers: {},
      body: {
        error: {
          message: 'Cannot GET /openai/v1/models',
          type: 'invalid_request_error',
          param: null,
          code: 'not_found',
        },
      },
    });
    // Elsewhere, the native API's body as before.
    expect(answer(missing, new HttpErrorsFilter(), '/v1/nothing').body).toMatchObject({ statusCode: 404 });
  });

  it('calls an upload past OPENAI_FILE_MAX_BYTES a file too large', () => {
    const tooBig = new PayloadTooLargeException({ statusCode: 413, field: 'file', message: 'm' });
    expect(answer(tooBig, new OpenAIErrorsFilter()).body).toMatchObject({ error: { code: 'file_too_large' } });
  });
});

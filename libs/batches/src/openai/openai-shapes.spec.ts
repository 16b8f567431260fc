import { describe, expect, it } from '@jest/globals';
import type { BatchView, ItemView } from '#libs/domain';
import {
  errorFileId,
  generatedFile,
  invalidLine,
  itemLine,
  openAIBatchOf,
  outputFileId,
  type OpenAIBatchRecord,
} from './openai-shapes.js';

const ID = 'batch_0b1f4a52-1d1e-4f0c-9a55-3d6c1c2b7e10';
const rec = (over: Partial<OpenAIBatchRecord> = {}): OpenAIBatchRecord => ({
  id: ID,
  nativeId: 'native-1',
  inputFileId: 'file-in',
  endpoint: '/v1/chat/completions',
  completionWindow: '1h',
  metadata: null,
  tenant: null,
  createdAt: 1_000_000,
  expiresAt: 4_600_000,
  total: 3,
  invalidLines: 1,
  cancellingAt: null,
  expiredAt: null,
  ...over,
});
const native = (counts: Partial<BatchView['counts']>): BatchView =>
  ({
    id: 'native-1',
    counts: { total: 2, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0, ...counts },
    routes: { local: 0, cloud: 2 },
    usage: { inputTokens: 10, outputTokens: 4 },
    cost: { usd: 0.001 },
    finishedAt: '1970-01-01T00:20:00.000Z',
  }) as BatchView;
const item = (over: Partial<ItemView>): ItemView =>
  ({
    id: 'q-1',
    index: 0,
    status: 'completed',
    route: { target: 'cloud', provider: 'openai', model: 'gpt-x', reason: '' },
    usage: { inputTokens: 7, outputTokens: 3 },
    costUsd: 0.0002,
    result: JSON.stringify({ content: 'hello', finish_reason: 'length' }),
    error: null,
    errorCode: null,
    finishedAt: '1970-01-01T00:20:00.000Z',
    ...over,
  }) as ItemView;

describe("an OpenAI batch's status, counts and files", () => {
  it('is validating while a worker expands it (cancelling once cancelled, finalizing past its window), failed with the field if refused', () => {
    const validating = { ...native({}), status: 'validating', finishedAt: null } as BatchView;
    expect(openAIBatchOf(rec(), validating)).toMatchObject({
      status: 'validating',
      in_progress_at: null,
      output_file_id: null,
      error_file_id: null,
      request_counts: { total: 3, completed: 0, failed: 0 },
      usage: null,
      switchyard: { batch_id: 'native-1' },
    });
    expect(openAIBatchOf(rec({ cancellingAt: 2_000_000 }), validating).status).toBe('cancelling');
    expect(openAIBatchOf(rec({ expiredAt: 5_000_000 }), validating).status).toBe('finalizing');
    const refused = {
      ...validating,
      status: 'failed',
      finishedAt: '1970-01-01T00:20:00.000Z',
      errors: [{ field: 'model', message: 'is not a local model here' }],
    } as BatchView;
    expect(openAIBatchOf(rec(), refused)).toMatchObject({
      status: 'failed',
      failed_at: 1200,
      errors: { object: 'list', data: [{ code: 'invalid_request', param: 'model', line: null }] },
      request_counts: { total: 3, completed: 0, failed: 3 },
    });
    expect(openAIBatchOf(rec(), validating).request_counts).toEqual({ total: 3, completed: 0, failed: 0 });
  });

  it('is in_progress while items are open, completed once none is, counting invalid lines as failed', () => {
    expect(openAIBatchOf(rec(), native({ queued: 1, completed: 1 }))).toMatchObject({
      status: 'in_progress',
      output_file_id: null,
      request_counts: { total: 3, completed: 1, failed: 1 },
    });
    expect(openAIBatchOf(rec(), native({ completed: 2 }))).toMatchObject({
      status: 'completed',
      completed_at: 1200,
      usage: {
        input_tokens: 10,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 4,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 14,
      },
      model: null,
      output_file_id: outputFileId(ID),
      error_file_id: errorFileId(ID),
      request_counts: { total: 3, completed: 2, failed: 1 },
    });
  });

  it('goes cancelling → cancelled, and finalizing → expired once its window passed', () => {
    expect(openAIBatchOf(rec({ cancellingAt: 2_000_000 }), native({ running: 1 })).status).toBe('cancelling');
    expect(openAIBatchOf(rec({ cancellingAt: 2_000_000 }), native({ cancelled: 2 })).status).toBe('cancelled');
    expect(openAIBatchOf(rec({ expiredAt: 5_000_000 }), native({ running: 1 })).status).toBe('finalizing');
    expect(openAIBatchOf(rec({ expiredAt: 5_000_000 }), native({ cancelled: 1, completed: 1 }))).toMatchObject({
      status: 'expired',
      expired_at: 5000,
    });
  });

  it('is failed with its errors when no line was valid', () => {
    const failure = [{ line: 1, customId: null, code: 'invalid_json', message: 'line is not valid JSON', param: null }];
    expect(openAIBatchOf(rec({ nativeId: null, invalidLines: 1, total: 1 }), null, failure)).toMatchObject({
      status: 'failed',
      errors: { object: 'list', data: [{ code: 'invalid_json', line: 1, param: null }] },
      // Every line failed: the counts add up, as they do for a batch that ran.
      request_counts: { total: 1, completed: 0, failed: 1 },
    });
  });

  it('names its generated files so they can be found again', () => {
    expect(generatedFile(outputFileId(ID))).toEqual({ batchId: ID, kind: 'output' });
    expect(generatedFile(errorFileId(ID))).toEqual({ batchId: ID, kind: 'errors' });
    expect(generatedFile('file-abc')).toBeNull();
  });
});

describe('the output and error lines', () => {
  it('a completed item is a 200 whose body is a chat.completion with route and cost alongside', () => {
    expect(itemLine(rec(), item({}))).toEqual({
      file: 'output',
      line: {
        id: 'batch_req_native-1_0',
        custom_id: 'q-1',
        response: {
          status_code: 200,
          request_id: 'req_native-1_0',
          body: {
            id: 'chatcmpl-native-1-0',
            object: 'chat.completion',
            created: 1200,
            model: 'gpt-x',
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: 'hello', refusal: null },
                logprobs: null,
                finish_reason: 'length',
              },
            ],
            usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
            switchyard: { route: { target: 'cloud', provider: 'openai', model: 'gpt-x' }, cost_usd: 0.0002 },
          },
        },
        error: null,
      },
    });
  });

  it('an item cancelled by the window is batch_expired; by a cancel, batch_cancelled; a failed one a 500', () => {
    const cancelled = item({ status: 'cancelled', result: null });
    expect(itemLine(rec({ expiredAt: 5_000_000 }), cancelled)).toMatchObject({
      file: 'errors',
      line: { response: null, error: { code: 'batch_expired' } },
    });
    expect(itemLine(rec({ cancellingAt: 2_000_000 }), cancelled)?.line).toMatchObject({
      error: { code: 'batch_cancelled' },
    });
    expect(itemLine(rec(), item({ status: 'failed', error: 'provider down' }))?.line).toMatchObject({
      response: { status_code: 500, body: { error: { message: 'provider down', type: 'server_error' } } },
      error: null,
    });
    expect(itemLine(rec(), item({ status: 'running' }))).toBeNull();
  });

  it('a line that did not complete says what its calls were billed, so the two files add up to the batch', () => {
    // An answer asked for again, then failed; a long answer cancelled after its first call: both were billed.
    const failed = item({ status: 'failed', error: 'not JSON', errorCode: 'output_check_failed', costUsd: 0.0004 });
    const cancelled = item({
      status: 'cancelled',
      result: null,
      usage: { inputTokens: 5, outputTokens: 1 },
      costUsd: 0.0001,
    });
    const billed = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };
    expect(itemLine(rec(), failed)?.line).toMatchObject({
      switchyard: { route: { target: 'cloud', provider: 'openai', model: 'gpt-x' }, usage: billed, cost_usd: 0.0004 },
    });
    expect(itemLine(rec({ cancellingAt: 2_000_000 }), cancelled)?.line).toMatchObject({
      response: null,
      switchyard: { usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 }, cost_usd: 0.0001 },
    });
    // Never run: nothing billed.
    const unrun = item({ status: 'cancelled', route: null, usage: null, costUsd: null, result: null });
    expect(itemLine(rec({ cancellingAt: 2_000_000 }), unrun)?.line).toMatchObject({
      switchyard: { route: null, usage: { total_tokens: 0 }, cost_usd: 0 },
    });
  });

  it("an invalid line is a request id of OpenAI's form, batch_req_ and the batch without its batch_ prefix", () => {
    const line = invalidLine(rec({ nativeId: null }), {
      line: 7,
      customId: 'c-7',
      code: 'invalid_json',
      message: 'not JSON',
      param: null,
    }) as { id: string };
    expect(line.id).toBe('batch_req_0b1f4a52-1d1e-4f0c-9a55-3d6c1c2b7e10_line_7');
  });

  it("gives a failed item's line the status its cause means: a refusal 4xx, an outage 429 or 5xx", () => {
    const line = (errorCode: string | null) =>
      itemLine(rec(), item({ status: 'failed', error: 'why', errorCode }))?.line as {
        response: { status_code: number; body: { error: { type: string; code: string | null } } };
      };
    const cases: Array<[string | null, number, string]> = [
      ['bad_request', 400, 'invalid_request_error'],
      ['context_exceeded', 400, 'invalid_request_error'],
      ['context_overflow', 400, 'invalid_request_error'],
      ['schema_unsupported', 400, 'invalid_request_error'],
      ['too_large', 413, 'invalid_request_error'],
      ['rate_limited', 429, 'rate_limit_error'],
      ['connection', 502, 'server_error'],
      ['timeout', 504, 'server_error'],
      ['server_error', 500, 'server_error'],
      ['output_check_failed', 500, 'server_error'],
      [null, 500, 'server_error'],
    ];
    for (const [code, status, type] of cases) {
      const { response } = line(code);
      expect([code, response.status_code, response.body.error.type, response.body.error.code]).toEqual([
        code,
        status,
        type,
        code,
      ]);
    }
  });
});

import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

/**
 * Issue 16 §1 says the official openai SDKs, Node *and Python*, work with only the base URL and key changed. The
 * Node SDK is driven in test/openai-batch-api.e2e-spec.ts; here the Python one runs test/python/
 * openai_batch_client.py — a client as a Python user writes it for OpenAI — against the built API and worker, with
 * the OpenAI double as the cloud provider. The script prints what it saw; the assertions are here.
 *
 * The SDK comes from pip, not npm: `test/python/setup-openai-sdk.sh` installs it into .cache/python-openai (CI
 * runs it first). Without it, or with OPENAI_PYTHON naming another interpreter that has it, this file is skipped
 * with the reason printed.
 */
const python = process.env.OPENAI_PYTHON ?? resolve('.cache/python-openai/bin/python');
const present = existsSync(python);
const suite = present ? describe : describe.skip;
if (!present)
  console.log(
    `test/openai-python-sdk.e2e-spec.ts skipped: no Python with the openai SDK at ${python} ` +
      '(install it with test/python/setup-openai-sdk.sh, or set OPENAI_PYTHON)',
  );

const KEY = 'sy-python-sdk-admin-key-0123456789';

suite('the OpenAI-compatible batch API, driven by the official openai Python SDK', () => {
  const sys = useSystem(
    async ({ double }) => ({
      ADMIN_API_KEY: KEY,
      RATE_LIMIT_REQUESTS_PER_MINUTE: '10000',
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'double-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      // The local model is assumed too slow for any window here: the lines go to the cloud double.
      LOCAL_TOKENS_PER_SEC: '0.001',
      OPENAI_BATCH_SENSITIVITY: 'internal',
    }),
    { double: { apiKey: 'double-key' } },
  );

  it('uploads, creates, polls, downloads, pages and cancels as it does against OpenAI; errors raise its classes', async () => {
    sys.double.reset();
    // A line asking for a JSON schema gets an answer that meets it (Switchyard checks structured answers).
    sys.double.setResponder((body) => {
      const answer = `answer to ${body.messages.at(-1).content}`;
      return body.response_format ? JSON.stringify({ x: answer }) : answer;
    });
    // Slow enough that the batch the script cancels right after creating it has not finished.
    sys.double.setLatency(3000);
    const { stdout } = await promisify(execFile)(
      python,
      ['test/python/openai_batch_client.py', `${sys.url}/openai/v1`, KEY],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const seen = JSON.parse(stdout);

    // Uploads: a (name, bytes) tuple, a BytesIO and an opened file each make the same File object.
    for (const upload of seen.uploads)
      expect(upload).toMatchObject({ object: 'file', purpose: 'batch', status: 'processed', bytes: seen.upload_bytes });
    expect(seen.uploads[0].filename).toBe('input.jsonl');
    expect(seen.uploads[2].filename).toMatch(/\.jsonl$/);
    expect(seen.retrieved_upload).toEqual(seen.uploads[0]);
    // files.list auto-paginated a file a page, newest first.
    expect(seen.listed_files).toEqual(seen.uploads.map((u: { id: string }) => u.id).reverse());

    expect(seen.created).toMatchObject({ object: 'batch', completion_window: '1h', metadata: { project: 'python' } });
    expect(seen.created.expires_at - seen.created.created_at).toBe(3600);
    expect(seen.done).toMatchObject({ status: 'completed', request_counts: { total: 3, completed: 2, failed: 1 } });
    expect(seen.done.usage.total_tokens).toBe(seen.done.usage.input_tokens + seen.done.usage.output_tokens);
    expect(seen.done.usage.output_tokens).toBeGreaterThan(0);

    // Each output line's body parsed as the SDK's ChatCompletion, with Switchyard's route alongside.
    expect(seen.outputs).toEqual({
      a: expect.objectContaining({
        status_code: 200,
        content: 'answer to one',
        route: expect.objectContaining({ target: 'cloud' }),
      }),
      b: expect.objectContaining({
        status_code: 200,
        content: '{"x":"answer to two"}',
        route: expect.objectContaining({ target: 'cloud' }),
      }),
    });
    expect(seen.output_file).toMatchObject({ purpose: 'batch_output', bytes: seen.output_length });
    expect(seen.written_length).toBe(seen.output_length);
    expect(seen.errors).toEqual([
      expect.objectContaining({
        custom_id: 'bad',
        response: null,
        error: expect.objectContaining({ code: 'invalid_request', param: 'body.messages[0].role', line: 3 }),
      }),
    ]);
    expect(seen.error_file).toMatchObject({ purpose: 'batch_output', bytes: seen.error_length });

    // What reached the provider: the valid lines' parameters as written, nothing of the invalid one.
    const sent = sys.double.completionRequests().map((r) => r.body);
    expect(sent.find((b) => b.messages.at(-1).content === 'one')).toMatchObject({ temperature: 0.2, seed: 7 });
    expect(sent.find((b) => b.messages.at(-1).content === 'two')).toMatchObject({
      response_format: { type: 'json_schema', json_schema: { name: 'r' } },
    });
    expect(sent.some((b) => b.messages.some((m: { role: string }) => m.role === 'wizard'))).toBe(false);

    // batches.list: newest first, a cursor page of two, and auto-pagination over all of them.
    const [oldest, middle, newest] = seen.more;
    expect(seen.first_page).toEqual({ ids: [newest, middle], has_more: true });
    expect(seen.listed_batches).toEqual([newest, middle, oldest, seen.done.id]);

    expect(['cancelling', 'cancelled']).toContain(seen.cancel_answer);
    expect(seen.cancelled.status).toBe('cancelled');
    expect(seen.cancelled.cancelled_at).not.toBeNull();

    expect(seen.raised).toEqual({
      endpoint: { class: 'BadRequestError', status: 400, param: 'endpoint', code: null },
      window: { class: 'BadRequestError', status: 400, param: 'completion_window', code: null },
      purpose: { class: 'BadRequestError', status: 400, param: 'purpose', code: null },
      missing_batch: expect.objectContaining({ class: 'NotFoundError', status: 404 }),
      finished_cancel: expect.objectContaining({ class: 'ConflictError', status: 409 }),
      wrong_key: expect.objectContaining({ class: 'AuthenticationError', status: 401 }),
      deleted_file: expect.objectContaining({ class: 'NotFoundError', status: 404 }),
    });
    expect(seen.deleted).toEqual({ id: seen.uploads[2].id, object: 'file', deleted: true });
  }, 180_000);
});

import { beforeAll, describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { freePort } from './support/redis-server-process.js';
import { ApiClient, type AppProcess } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

const ADMIN_KEY = 'e2e-access-log-admin-secret-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every JSON line a process wrote, parsed (a line that is not JSON fails the test that reads it). */
function lines(proc: AppProcess): Array<{ level: string; context: string; message: any }> {
  return proc.output
    .join('')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));
}

/** The access lines the API wrote for one request id. */
function accessLines(proc: AppProcess, requestId: string) {
  return lines(proc).filter(
    (l) => l.context === 'access' && l.message?.msg === 'request' && l.message.requestId === requestId,
  );
}

/** Waits until the API has written the access line of `requestId` (it is written once the answer is sent). */
async function accessLineOf(proc: AppProcess, requestId: string) {
  await proc.waitForLog(new RegExp(`"msg":"request",[^}]*"requestId":"${requestId}"`), 10_000);
  const found = accessLines(proc, requestId);
  expect(found).toHaveLength(1);
  return found[0];
}

/**
 * The API's access log against the real built processes: one JSON line per request with its route pattern,
 * status, time, key and tenant; X-Request-Id kept, made or replaced, echoed on every answer; and the id of
 * a submission in the worker's lines about its items.
 */
describe('access lines and request ids', () => {
  const sys = useSystem(
    async ({ double }) => ({
      ADMIN_API_KEY: ADMIN_KEY,
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_TOKENS_PER_SEC: '20',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'sk-e2e-access-log',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
      MAX_OUTPUT_TOKENS: '16',
    }),
    { double: { apiKey: 'sk-e2e-access-log' } },
  );
  let key: { id: string; secret: string };
  let client: ApiClient;

  beforeAll(async () => {
    const created = await sys.client
      .withKey(ADMIN_KEY)
      .request('POST', '/v1/keys', { name: 'access-log', scopes: ['submit', 'read'], tenant: 'acme' });
    expect(created.status).toBe(201);
    key = { id: created.json.id, secret: created.json.secret };
    client = sys.client.withKey(key.secret);
  });

  it('writes one line per request: method, route pattern, status, ms, key id, tenant and request id, never the key', async () => {
    const res = await client.request('GET', '/v1/batches/no-such-batch?limit=5', undefined, {
      'x-request-id': 'e2e-read-1',
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toBe('e2e-read-1');

    const line = await accessLineOf(sys.api, 'e2e-read-1');
    expect(line).toMatchObject({ level: 'log', context: 'access' });
    expect(line.message).toEqual({
      msg: 'request',
      method: 'GET',
      route: '/v1/batches/:id',
      status: 404,
      ms: expect.any(Number),
      keyId: key.id,
      tenant: 'acme',
      requestId: 'e2e-read-1',
    });
    expect(line.message.ms).toBeGreaterThanOrEqual(0);
    const output = sys.api.output.join('');
    expect(output).not.toContain(key.secret);
    expect(output).not.toContain(ADMIN_KEY);
    expect(output).not.toContain('no-such-batch');
  });

  it('makes an id when none is sent, and replaces one too long or with unsafe characters; each is echoed', async () => {
    const none = await client.request('GET', '/v1/batches');
    const made = none.headers.get('x-request-id')!;
    expect(made).toMatch(UUID);
    expect((await accessLineOf(sys.api, made)).message).toMatchObject({ route: '/v1/batches', status: 200 });
    expect((await accessLineOf(sys.api, made)).message.requestIdReplaced).toBeUndefined();

    for (const bad of ['x'.repeat(129), 'two words', 'forged"}\\n{"level":"log']) {
      const res = await client.request('GET', '/v1/batches', undefined, { 'x-request-id': bad });
      const id = res.headers.get('x-request-id')!;
      expect(id).toMatch(UUID);
      expect((await accessLineOf(sys.api, id)).message).toMatchObject({ status: 200, requestIdReplaced: true });
      expect(sys.api.output.join('')).not.toContain(bad);
    }
  });

  it('gives a request refused before its handler an id and a line too, without a key id', async () => {
    const refused = await sys.client.request('POST', '/v1/batches', { kind: 'x' }, { 'x-request-id': 'e2e-no-key' });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toBe('e2e-no-key');
    // Refused before routing (no body is read without a key): no route has matched yet.
    expect((await accessLineOf(sys.api, 'e2e-no-key')).message).toMatchObject({
      method: 'POST',
      route: null,
      status: 401,
      keyId: null,
      tenant: null,
    });
    await sys.client.request('GET', '/nowhere', undefined, { 'x-request-id': 'e2e-no-route' });
    expect((await accessLineOf(sys.api, 'e2e-no-route')).message).toMatchObject({ route: null, status: 404 });
  });

  it('keeps probes out of the log at the default level', async () => {
    for (const path of ['/health', '/ready'])
      expect((await sys.client.request('GET', path, undefined, { 'x-request-id': 'e2e-probe' })).status).toBe(200);
    // Lines are written in the order answers finish: once a later request's line is there, a probe's would be.
    await client.request('GET', '/v1/batches', undefined, { 'x-request-id': 'e2e-after-probes' });
    await accessLineOf(sys.api, 'e2e-after-probes');
    expect(accessLines(sys.api, 'e2e-probe')).toEqual([]);
  });

  it('prints readable lines, not JSON, with LOG_FORMAT=pretty (what a terminal gets by default)', async () => {
    const port = String(await freePort());
    const api = sys.startApp('api', { PORT: port, LOG_FORMAT: 'pretty' });
    await api.waitForLog(/api listening/);
    const res = await new ApiClient(`http://127.0.0.1:${port}`, ADMIN_KEY).request('GET', '/v1/batches', undefined, {
      'x-request-id': 'e2e-pretty',
    });
    expect(res.status).toBe(200);
    await api.waitForLog(/GET \/v1\/batches 200 [\d.]+ms key=\S+ tenant=\S+ req=e2e-pretty/);
    const output = api.output.join('');
    expect(output.split('\n').find((l) => l.includes('api listening'))).not.toMatch(/^\{/);
    expect(output).not.toContain('"context":"access"');
    expect(output).not.toContain(ADMIN_KEY);
  });

  it("carries a submission's request id into the worker's line for each of its items", async () => {
    const res = await client.request(
      'POST',
      '/v1/batches',
      {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadline: 'PT2S', // the local model (20 tok/s assumed) cannot make it: the double answers
        task: { type: 'summarize', maxTokens: 16 },
        items: [
          { id: 'a', text: 'The quarterly report covers revenue and costs.' },
          { id: 'b', text: 'The hiring plan covers two teams.' },
        ],
      },
      { 'x-request-id': 'e2e-submit-1' },
    );
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe('e2e-submit-1');
    const batchId = res.json.id as string;
    expect(await client.waitFinished(batchId, 60_000)).toMatchObject({ status: 'completed' });

    expect((await accessLineOf(sys.api, 'e2e-submit-1')).message).toMatchObject({
      method: 'POST',
      route: '/v1/batches',
      status: 202,
      keyId: key.id,
      tenant: 'acme',
    });
    // The line follows the item's transition to completed, which is what waitFinished saw.
    for (const index of [0, 1])
      await sys.worker.waitForLog(
        new RegExp(`"msg":"item completed","batchId":"${batchId}","index":${index},`),
        10_000,
      );
    const completed = lines(sys.worker)
      .filter((l) => l.message?.msg === 'item completed' && l.message.batchId === batchId)
      .map((l) => [l.message.index, l.message.requestId]);
    expect(completed.sort()).toEqual([
      [0, 'e2e-submit-1'],
      [1, 'e2e-submit-1'],
    ]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureGeneratedModel } from '#libs/gguf';
import { freePort } from './support/redis-server-process.js';
import { ApiClient, sleep, type AppProcess } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * API keys, scopes, tenants and per-key limits, against the real built API process and real Redis.
 * No worker runs: batches stay queued, which is all that reading, listing and cancelling need.
 * 127.0.0.2 is a loopback address too, so "HOST is ignored in open mode" is visible without ever
 * listening beyond this machine.
 */
const ALT_LOOPBACK = '127.0.0.2';
const ADMIN_KEY = 'e2e-bootstrap-admin-secret-0123456789';

const doc = (tag: string, chars = 400) => ({
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: 'PT1H',
  task: { type: 'summarize' },
  items: [{ id: tag, text: `${tag} `.padEnd(chars, 'x') }],
});

/** Runs the keys CLI (built) against the same Redis and prefix as the API. */
function keysCli(
  env: NodeJS.ProcessEnv,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve('dist/apps/cli/src/keys.js'), ...args], {
      env: { PATH: process.env.PATH, REDIS_URL: env.REDIS_URL, SWITCHYARD_PREFIX: env.SWITCHYARD_PREFIX },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** Waits out the end of a rate-limit minute, so a test's requests all land in one window. */
async function awayFromMinuteBoundary(needMs = 8000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await sleep(left + 50);
}

async function unreachable(url: string): Promise<boolean> {
  try {
    await fetch(url);
    return false;
  } catch {
    return true;
  }
}

describe('open mode: no key anywhere', () => {
  const sys = useSystem({ HOST: ALT_LOOPBACK, MAX_ITEM_BYTES: '2048' }, { workers: 0 });

  it('says at start-up that it is open and listens on 127.0.0.1 only, ignoring HOST', async () => {
    const logs = sys.api.output.join('');
    expect(logs).toMatch(
      /the API is OPEN \(no authentication\) and listens on 127\.0\.0\.1 only\. HOST=127\.0\.0\.2 is ignored/,
    );
    expect(logs).toMatch(/"auth":"open \(loopback only\)"/);
    expect(await unreachable(`http://${ALT_LOOPBACK}:${sys.env.PORT}/health`)).toBe(true);
    expect((await sys.client.request('GET', '/health')).status).toBe(200);
  });

  it('serves every route without a key, Bull Board included', async () => {
    expect((await sys.client.request('POST', '/v1/batches', doc('open-1'))).status).toBe(202);
    expect((await sys.client.request('GET', '/v1/batches')).json.batches).toHaveLength(1);
    expect((await sys.client.request('GET', '/v1/pools')).status).toBe(200);
    expect((await sys.client.request('GET', '/admin/queues')).status).toBe(200);
    // A key sent anyway (the openai SDK always sends its apiKey) is no key of this API: still open.
    expect((await sys.client.withKey('sk-whatever-the-sdk-sends').request('GET', '/v1/batches')).status).toBe(200);
  });

  it('refuses an item over MAX_ITEM_BYTES with a 400 naming it', async () => {
    const res = await sys.client.request('POST', '/v1/batches', {
      ...doc('big'),
      items: [
        { id: 'small', text: 'ok' },
        { id: 'big', text: 'x'.repeat(3000) },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({
      field: 'items[1].text',
      message: 'items[1].text is 3000 bytes; an item holds at most 2048 bytes',
    });
  });

  it('is secured from the moment the first key is created, without a restart', async () => {
    const created = await sys.client.request('POST', '/v1/keys', { name: 'first-admin', scopes: ['admin'] });
    expect(created.status).toBe(201);
    const admin = sys.client.withKey(created.json.secret);
    const denied = await sys.client.request('GET', '/v1/batches');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer');
    expect((await sys.client.request('GET', '/admin/queues')).status).toBe(401);
    // Batches made in open mode belong to no tenant; admin sees them.
    const listed = await admin.request('GET', '/v1/batches');
    expect(listed.status).toBe(200);
    expect(listed.json.batches).toEqual([expect.objectContaining({ tenant: null })]);
    expect(sys.api.output.join('')).not.toContain(created.json.secret);
  });
});

describe('secured mode: ADMIN_API_KEY and keys from the API and the CLI', () => {
  let replica: AppProcess | undefined;
  let anonymous: ApiClient;
  let admin: ApiClient;
  const secrets: string[] = [];

  async function newKey(body: Record<string, unknown>): Promise<{ id: string; client: ApiClient }> {
    const res = await admin.request('POST', '/v1/keys', body);
    expect(res.status).toBe(201);
    secrets.push(res.json.secret);
    return { id: res.json.id, client: anonymous.withKey(res.json.secret) };
  }

  // Schedules may fire every second here (the default minimum is a minute), so a test sees several firings.
  const sys = useSystem(
    {
      HOST: ALT_LOOPBACK,
      ADMIN_API_KEY: ADMIN_KEY,
      RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
      SCHEDULE_MIN_INTERVAL_MS: '1000',
    },
    { workers: 0 },
  );
  beforeAll(() => {
    anonymous = new ApiClient(`http://${ALT_LOOPBACK}:${sys.env.PORT}`);
    admin = anonymous.withKey(ADMIN_KEY);
  });

  // After useSystem's afterAll has stopped the API and the replica: no secret ever reaches the logs.
  afterAll(() => {
    const logs = sys.api.output.join('') + (replica?.output.join('') ?? '');
    for (const secret of [ADMIN_KEY, ...secrets]) expect(logs).not.toContain(secret);
  });

  it('honours HOST when auth is configured, and says keys are required', async () => {
    expect(sys.api.output.join('')).toMatch(/"auth":"api keys required"/);
    expect(sys.api.output.join('')).not.toMatch(/OPEN/);
    expect((await anonymous.request('GET', '/health')).status).toBe(200);
    expect(await unreachable(`http://127.0.0.1:${sys.env.PORT}/health`)).toBe(true);
  });

  it('answers 401 without a key on Bull Board, admin routes and batch routes; /health and /ready stay open', async () => {
    for (const [method, path] of [
      ['GET', '/admin/queues'],
      ['GET', '/admin/queues/api/queues'],
      ['GET', '/v1/pools'],
      ['GET', '/v1/providers'],
      ['GET', '/v1/keys'],
      ['GET', '/v1/batches'],
      ['POST', '/v1/batches'],
      ['GET', '/v1/schedules'],
    ]) {
      const res = await anonymous.request(method, path, method === 'POST' ? doc('anon') : undefined);
      expect([path, res.status]).toEqual([path, 401]);
      expect(res.json).toMatchObject({ statusCode: 401, message: expect.stringContaining('API key') });
    }
    expect((await anonymous.withKey('sy_not-a-real-key').request('GET', '/v1/pools')).json.message).toBe(
      'the API key is not valid',
    );
    expect(
      (await anonymous.request('GET', '/v1/pools', undefined, { authorization: 'Basic YWRtaW46YWRtaW4=' })).json
        .message,
    ).toMatch(/Bearer/);
    expect((await anonymous.request('GET', '/health')).status).toBe(200);
    expect([200, 503]).toContain((await anonymous.request('GET', '/ready')).status);
    expect((await admin.request('GET', '/admin/queues')).status).toBe(200);
    expect((await admin.request('GET', '/v1/pools')).status).toBe(200);
    // A browser reaches the board with the key as the Basic auth password, after a Basic challenge.
    expect((await anonymous.request('GET', '/admin/queues')).headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const basic = (password: string) => ({
      authorization: `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`,
    });
    expect((await anonymous.request('GET', '/admin/queues', undefined, basic(ADMIN_KEY))).status).toBe(200);
    expect((await anonymous.request('GET', '/admin/queues', undefined, basic('wrong'))).status).toBe(401);
    // The body middleware reads Basic credentials too (and the guard reuses what it learned): a batch route
    // still wants Bearer, with a body as without.
    const posted = await anonymous.request('POST', '/v1/batches', { kind: 'document-processing' }, basic(ADMIN_KEY));
    expect(posted.status).toBe(401);
    expect(posted.json.message).toMatch(/Bearer/);
  });

  it('creates a key through the API, shows its secret once, lists it without, and revokes it', async () => {
    const created = await admin.request('POST', '/v1/keys', {
      name: 'ci',
      scopes: ['submit', 'read'],
      tenant: 'lifecycle',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: expect.stringMatching(/^key_/),
      name: 'ci',
      scopes: ['submit', 'read'],
      tenant: 'lifecycle',
      status: 'active',
      secret: expect.stringMatching(/^sy_/),
    });
    secrets.push(created.json.secret);
    const ci = anonymous.withKey(created.json.secret);
    expect((await ci.request('POST', '/v1/batches', doc('life'))).status).toBe(202);
    const listed = await admin.request('GET', '/v1/keys');
    expect(listed.json.keys).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: created.json.id, status: 'active' })]),
    );
    expect(listed.text).not.toContain(created.json.secret);
    expect(listed.text).not.toContain('hash');
    const revoked = await admin.request('DELETE', `/v1/keys/${created.json.id}`);
    expect(revoked.json).toMatchObject({ id: created.json.id, status: 'revoked', revokedAt: expect.any(String) });
    const after = await ci.request('GET', '/v1/batches');
    expect(after.status).toBe(401);
    expect(after.json.message).toBe('the API key has been revoked');
    expect((await admin.request('DELETE', '/v1/keys/key_missing')).status).toBe(404);
    expect((await admin.request('POST', '/v1/keys', { name: 'bad', scopes: ['write'] })).json).toMatchObject({
      statusCode: 400,
      field: 'scopes[0]',
    });
  });

  it('creates, lists and revokes keys with the CLI, straight in Redis', async () => {
    const created = await keysCli(sys.env, [
      'create',
      '--name',
      'cli-ci',
      '--scopes',
      'submit,read',
      '--tenant',
      'acme-cli',
      '--expires',
      '2099-01-01T00:00:00Z',
    ]);
    expect(created.code).toBe(0);
    expect(created.stderr).toMatch(/cannot be shown again/);
    const key = JSON.parse(created.stdout);
    expect(key).toMatchObject({
      name: 'cli-ci',
      scopes: ['submit', 'read'],
      tenant: 'acme-cli',
      expiresAt: '2099-01-01T00:00:00.000Z',
      secret: expect.stringMatching(/^sy_/),
    });
    secrets.push(key.secret);
    const cli = anonymous.withKey(key.secret);
    const submitted = await cli.request('POST', '/v1/batches', doc('cli'));
    expect(submitted.status).toBe(202);
    expect((await admin.request('GET', `/v1/batches/${submitted.json.id}`)).json.tenant).toBe('acme-cli');
    const listed = await keysCli(sys.env, ['list']);
    expect(JSON.parse(listed.stdout).keys).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: key.id, status: 'active' })]),
    );
    expect(listed.stdout).not.toContain(key.secret);
    const revoked = await keysCli(sys.env, ['revoke', key.id]);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id: key.id, status: 'revoked' });
    expect((await cli.request('GET', `/v1/batches/${submitted.json.id}`)).status).toBe(401);
    const bad = await keysCli(sys.env, ['create', '--name', 'x', '--scopes', 'write']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--scopes/);
  });

  it('answers 403 when the key lacks the scope; routes that declare none need admin', async () => {
    const reader = (await newKey({ name: 'reader', scopes: ['read'] })).client;
    const submitter = (await newKey({ name: 'submitter', scopes: ['submit'] })).client;
    const expect403 = async (client: ApiClient, method: string, path: string, scope: string, body?: unknown) => {
      const res = await client.request(method, path, body);
      expect([method, path, res.status, res.json?.requiredScope]).toEqual([method, path, 403, scope]);
    };
    await expect403(reader, 'POST', '/v1/batches', 'submit', doc('r'));
    await expect403(reader, 'POST', '/v1/batches/quote', 'submit', doc('r'));
    await expect403(reader, 'GET', '/v1/pools', 'admin');
    await expect403(reader, 'GET', '/v1/providers', 'admin');
    await expect403(reader, 'GET', '/v1/keys', 'admin');
    await expect403(reader, 'POST', '/v1/keys', 'admin', { name: 'escalate', scopes: ['admin'] });
    await expect403(reader, 'GET', '/admin/queues', 'admin');
    await expect403(submitter, 'GET', '/v1/batches', 'read');
    expect((await reader.request('GET', '/v1/batches')).status).toBe(200);
    expect((await submitter.request('POST', '/v1/batches', doc('s'))).status).toBe(202);
  });

  it('stops accepting a key at its expiry', async () => {
    const { client } = await newKey({
      name: 'short',
      scopes: ['read'],
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await client.request('GET', '/v1/batches')).status).toBe(200);
    await sleep(1700);
    const res = await client.request('GET', '/v1/batches');
    expect(res.status).toBe(401);
    expect(res.json.message).toBe('the API key has expired');
  });

  it('rotates without downtime: two keys of one tenant both work, revoking one keeps the other', async () => {
    const old = await newKey({ name: 'deploy-2026-10', scopes: ['submit', 'read'], tenant: 'rotating' });
    const next = await newKey({ name: 'deploy-2026-11', scopes: ['submit', 'read'], tenant: 'rotating' });
    const batch = await old.client.request('POST', '/v1/batches', doc('rot'));
    expect(batch.status).toBe(202);
    expect((await next.client.request('GET', `/v1/batches/${batch.json.id}`)).status).toBe(200);
    expect((await admin.request('DELETE', `/v1/keys/${old.id}`)).status).toBe(200);
    expect((await old.client.request('GET', `/v1/batches/${batch.json.id}`)).status).toBe(401);
    expect((await next.client.request('GET', `/v1/batches/${batch.json.id}`)).status).toBe(200);
    expect((await next.client.request('POST', '/v1/batches', doc('rot-2'))).status).toBe(202);
  });

  it('shows a tenant only its own batches (another tenant gets 404), and admin all of them', async () => {
    const acme = (await newKey({ name: 'acme', scopes: ['submit', 'read'], tenant: 'acme' })).client;
    const globex = (await newKey({ name: 'globex', scopes: ['submit', 'read'], tenant: 'globex' })).client;
    const mine = await acme.request('POST', '/v1/batches', doc('acme-doc'), { 'idempotency-key': 'nightly-1' });
    const theirs = await globex.request('POST', '/v1/batches', doc('globex-doc'), { 'idempotency-key': 'nightly-1' });
    expect(mine.status).toBe(202);
    expect(theirs.status).toBe(202);
    // The same Idempotency-Key from another tenant is another batch, not a way to learn this one's id.
    expect(theirs.json.id).not.toBe(mine.json.id);
    const id = mine.json.id;
    for (const [method, path] of [
      ['GET', `/v1/batches/${id}`],
      ['GET', `/v1/batches/${id}/items`],
      ['GET', `/v1/batches/${id}/results`],
      ['GET', `/v1/batches/${id}/patch`],
      ['DELETE', `/v1/batches/${id}`],
    ]) {
      const res = await globex.request(method, path);
      expect([method, path, res.status]).toEqual([method, path, 404]);
      expect(res.text).toContain(`batch ${id} not found`);
    }
    expect((await acme.request('GET', `/v1/batches/${id}`)).json).toMatchObject({
      id,
      tenant: 'acme',
      status: 'queued',
    });
    expect((await acme.request('GET', `/v1/batches/${id}/items`)).json.items).toHaveLength(1);
    expect((await globex.request('GET', '/v1/batches')).json.batches.map((b: { id: string }) => b.id)).toEqual([
      theirs.json.id,
    ]);
    expect((await acme.request('GET', '/v1/batches')).json.batches.map((b: { id: string }) => b.id)).toEqual([id]);
    const all = (await admin.request('GET', '/v1/batches?limit=500')).json.batches.map((b: { id: string }) => b.id);
    expect(all).toEqual(expect.arrayContaining([id, theirs.json.id]));
    expect((await admin.request('GET', `/v1/batches/${id}/items`)).status).toBe(200);
    const cancelled = await acme.request('DELETE', `/v1/batches/${id}`);
    expect(cancelled.json).toMatchObject({ id, cancelled: 1 });
  });

  it('lets a tenant migrate only the repositories an admin registered for it; only admin registers', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'switchyard-tenant-repo-'));
    try {
      const env = {
        ...process.env,
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'u',
        GIT_AUTHOR_EMAIL: 'u@u',
        GIT_COMMITTER_NAME: 'u',
        GIT_COMMITTER_EMAIL: 'u@u',
      };
      writeFileSync(join(repo, 'a.js'), 'var a = 1;\n');
      writeFileSync(join(repo, 'big.js'), `var big = "${'b'.repeat(4000)}";\n`);
      execFileSync('git', ['init', '-q'], { cwd: repo, env });
      execFileSync('git', ['add', '.'], { cwd: repo, env });
      execFileSync('git', ['commit', '-qm', 'init'], { cwd: repo, env });
      const acme = (
        await newKey({
          name: 'acme-repo',
          scopes: ['submit', 'read'],
          tenant: 'acme',
          limits: { tokensPerMinute: 400 },
        })
      ).client;
      const globex = (await newKey({ name: 'globex-repo', scopes: ['submit', 'read'], tenant: 'globex' })).client;
      const task = { instruction: 'Use const' };
      const body = {
        kind: 'code-migration',
        sensitivity: 'public',
        deadline: 'PT1H',
        task,
        source: { repo, include: ['a.js'] },
      };
      const denied = await acme.request('POST', '/v1/repositories', { root: repo, tenant: 'acme' });
      expect([denied.status, denied.json.requiredScope]).toEqual([403, 'admin']);
      expect((await acme.request('POST', '/v1/batches', body)).json).toMatchObject({
        statusCode: 400,
        field: 'source.repo',
      });

      const registered = await admin.request('POST', '/v1/repositories', { root: repo, tenant: 'acme' });
      expect(registered.status).toBe(201);
      expect(registered.json).toMatchObject({ tenant: 'acme', id: expect.stringMatching(/^repo_/) });
      expect((await acme.request('POST', '/v1/batches', body)).status).toBe(202);
      // The repository's files count against the key's tokens once read: ~1,000 tokens never fit in 400.
      const big = await acme.request('POST', '/v1/batches', { ...body, source: { repo, include: ['big.js'] } });
      expect(big.json).toMatchObject({ statusCode: 413, field: 'items', limit: 'tokensPerMinute', max: 400 });
      expect((await globex.request('POST', '/v1/batches', body)).json).toMatchObject({
        statusCode: 400,
        field: 'source.repo',
      });
      expect((await globex.request('POST', '/v1/batches/quote', body)).json).toMatchObject({
        statusCode: 400,
        field: 'source.repo',
      });
      expect(
        (await admin.request('GET', '/v1/repositories')).json.repositories.map((r: { id: string }) => r.id),
      ).toContain(registered.json.id);

      expect((await admin.request('DELETE', `/v1/repositories/${registered.json.id}`)).status).toBe(200);
      expect((await acme.request('POST', '/v1/batches', body)).json).toMatchObject({
        statusCode: 400,
        field: 'source.repo',
      });
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  it('keeps schedules per tenant too: fired batches belong to the schedule’s tenant', async () => {
    const acme = (await newKey({ name: 'acme-sched', scopes: ['submit', 'read'], tenant: 'acme' })).client;
    const globex = (await newKey({ name: 'globex-sched', scopes: ['submit', 'read'], tenant: 'globex' })).client;
    const schedule = { name: 'acme-nightly', every: 3_600_000, batch: { ...doc('sched'), deadline: 'PT6H' } };
    const created = await acme.request('POST', '/v1/schedules', schedule);
    expect(created.status).toBe(201);
    expect(created.json.tenant).toBe('acme');
    expect((await globex.request('GET', '/v1/schedules/acme-nightly')).status).toBe(404);
    expect((await globex.request('DELETE', '/v1/schedules/acme-nightly')).status).toBe(404);
    expect((await globex.request('POST', '/v1/schedules', schedule)).status).toBe(409);
    expect((await globex.request('GET', '/v1/schedules')).json.schedules).toEqual([]);
    expect((await acme.request('GET', '/v1/schedules')).json.schedules.map((s: { name: string }) => s.name)).toEqual([
      'acme-nightly',
    ]);
    expect((await admin.request('GET', '/v1/schedules/acme-nightly')).json.tenant).toBe('acme');
    // An admin fixing acme's schedule leaves it acme's, under its owner key: acme still sees it.
    const fixed = await admin.request('PUT', '/v1/schedules/acme-nightly', { ...schedule, every: 7_200_000 });
    expect(fixed.json).toMatchObject({ tenant: 'acme', ownerKeyId: created.json.ownerKeyId, every: 7_200_000 });
    expect((await acme.request('GET', '/v1/schedules/acme-nightly')).json.every).toBe(7_200_000);
    expect((await acme.request('DELETE', '/v1/schedules/acme-nightly')).status).toBe(200);

    // A worker fires the schedule: the batch it creates is acme's, not everyone's.
    const worker = sys.startWorker({ LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny') });
    try {
      expect(
        (await acme.request('POST', '/v1/schedules', { ...schedule, name: 'acme-every-second', every: 1000 })).status,
      ).toBe(201);
      let fired: string | null = null;
      for (const deadline = Date.now() + 30_000; !fired && Date.now() < deadline; await sleep(200)) {
        fired =
          (await acme.request('GET', '/v1/schedules/acme-every-second')).json.runs.find(
            (r: { batchId: string | null }) => r.batchId,
          )?.batchId ?? null;
      }
      expect(fired).not.toBeNull();
      expect((await acme.request('GET', `/v1/batches/${fired}`)).json).toMatchObject({ id: fired, tenant: 'acme' });
      expect((await globex.request('GET', `/v1/batches/${fired}`)).status).toBe(404);
      expect((await acme.request('DELETE', '/v1/schedules/acme-every-second')).status).toBe(200);
    } finally {
      await worker.stop();
    }
  });

  it('refuses a schedule that would fire more often than SCHEDULE_MIN_INTERVAL_MS (default a minute), naming the field', async () => {
    const { client } = await newKey({
      name: 'sched-interval',
      scopes: ['submit', 'read'],
      limits: { tokensPerMinute: 400 },
    });
    // An API with the default minimum, beside the one this suite runs with SCHEDULE_MIN_INTERVAL_MS=1000.
    const strict = sys.startApp('api', { PORT: String(await freePort()), SCHEDULE_MIN_INTERVAL_MS: '' });
    try {
      await strict.waitForLog(/api listening/);
      const port = /"url":"http:\/\/[^:]+:(\d+)"/.exec(strict.output.join(''))![1];
      const onStrict = new ApiClient(`http://${ALT_LOOPBACK}:${port}`, client.apiKey);
      const batch = { ...doc('fast'), deadline: 'PT1H' };
      const every = await onStrict.request('POST', '/v1/schedules', { name: 'too-fast', every: 1000, batch });
      expect(every.status).toBe(400);
      expect(every.json).toMatchObject({
        statusCode: 400,
        field: 'every',
        message: 'every must be at least 60000 ms (SCHEDULE_MIN_INTERVAL_MS)',
      });
      const cron = await onStrict.request('POST', '/v1/schedules', {
        name: 'too-fast',
        cron: '*/5 * * * * *',
        tz: 'UTC',
        batch,
      });
      expect(cron.status).toBe(400);
      expect(cron.json).toMatchObject({
        statusCode: 400,
        field: 'cron',
        message: expect.stringContaining('fires 5000 ms apart'),
      });
      expect((await onStrict.request('GET', '/v1/schedules/too-fast')).status).toBe(404);
      expect(
        (await onStrict.request('POST', '/v1/schedules', { name: 'hourly', cron: '0 * * * *', tz: 'UTC', batch }))
          .status,
      ).toBe(201);
      expect((await onStrict.request('DELETE', '/v1/schedules/hourly')).status).toBe(200);
    } finally {
      await strict.stop();
    }
  });

  it('counts every schedule firing against the owner key’s limits; one over them is recorded as skipped', async () => {
    const { id, client } = await newKey({
      name: 'sched-limited',
      scopes: ['submit', 'read'],
      tenant: 'limited',
      limits: { tokensPerMinute: 400 },
    });
    // ~260 tokens a firing: the first in a minute fits the key's 400, the next does not.
    const schedule = { name: 'limited-every-second', every: 1000, batch: { ...doc('lim', 1000), deadline: 'PT6H' } };
    const worker = sys.startWorker({ LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny') });
    try {
      await awayFromMinuteBoundary(15_000);
      const created = await client.request('POST', '/v1/schedules', schedule);
      expect(created.status).toBe(201);
      expect(created.json.ownerKeyId).toBe(id);
      let runs: Array<{ batchId: string | null; skipped?: string }> = [];
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(200)) {
        runs = (await client.request('GET', '/v1/schedules/limited-every-second')).json.runs;
        if (runs.some((r) => r.batchId) && runs.some((r) => r.skipped)) break;
      }
      expect((await client.request('DELETE', '/v1/schedules/limited-every-second')).status).toBe(200);
      const skipped = runs.filter((r) => r.skipped);
      expect(skipped.length).toBeGreaterThanOrEqual(1);
      for (const r of skipped) {
        expect(r).toMatchObject({
          batchId: null,
          skipped: expect.stringMatching(
            /^over the owner key's limit: about \d+ tokens; at most 400 submitted tokens per minute$/,
          ),
        });
      }
      // Only the firings that fit made batches, and the skips are in the worker's log.
      const batches = (await client.request('GET', '/v1/batches?limit=500')).json.batches;
      expect(batches.map((b: { id: string }) => b.id).sort()).toEqual(
        runs
          .filter((r) => r.batchId)
          .map((r) => r.batchId)
          .sort(),
      );
      expect(worker.output.join('')).toMatch(/"msg":"schedule firing skipped","schedule":"limited-every-second"/);
    } finally {
      await worker.stop();
    }
  });

  it('skips every firing of a schedule whose owner key was revoked', async () => {
    const { id, client } = await newKey({ name: 'sched-revoked', scopes: ['submit', 'read'], tenant: 'revoked-owner' });
    expect(
      (
        await client.request('POST', '/v1/schedules', {
          name: 'orphan',
          every: 1000,
          batch: { ...doc('orphan'), deadline: 'PT6H' },
        })
      ).status,
    ).toBe(201);
    expect((await admin.request('DELETE', `/v1/keys/${id}`)).status).toBe(200);
    const worker = sys.startWorker({ LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny') });
    try {
      let runs: Array<{ batchId: string | null; skipped?: string }> = [];
      for (const deadline = Date.now() + 30_000; runs.length < 2 && Date.now() < deadline; await sleep(200)) {
        runs = (await admin.request('GET', '/v1/schedules/orphan')).json.runs;
      }
      expect(runs.length).toBeGreaterThanOrEqual(2);
      for (const r of runs)
        expect(r).toEqual(expect.objectContaining({ batchId: null, skipped: `its owner key ${id} is revoked` }));
      expect((await admin.request('DELETE', '/v1/schedules/orphan')).status).toBe(200);
    } finally {
      await worker.stop();
    }
  });

  it('limits requests per minute per key across API replicas: 429 with Retry-After naming the limit', async () => {
    replica = sys.startApp('api', { PORT: String(await freePort()) });
    await replica.waitForLog(/api listening/);
    const replicaPort = /"url":"http:\/\/[^:]+:(\d+)"/.exec(replica.output.join(''))![1];
    const limited = await newKey({ name: 'limited', scopes: ['read'], limits: { requestsPerMinute: 3 } });
    const other = (await newKey({ name: 'unlimited', scopes: ['read'] })).client;
    const onReplica = new ApiClient(`http://${ALT_LOOPBACK}:${replicaPort}`, limited.client.apiKey);
    await awayFromMinuteBoundary();
    expect((await limited.client.request('GET', '/v1/batches')).status).toBe(200);
    expect((await onReplica.request('GET', '/v1/batches')).status).toBe(200);
    expect((await limited.client.request('GET', '/v1/batches')).status).toBe(200);
    const over = await onReplica.request('GET', '/v1/batches');
    expect(over.status).toBe(429);
    const retryAfter = Number(over.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(over.json).toMatchObject({
      statusCode: 429,
      limit: 'requestsPerMinute',
      max: 3,
      retryAfterSeconds: retryAfter,
    });
    // Per key: another key is not slowed down by this one.
    expect((await other.request('GET', '/v1/batches')).status).toBe(200);
  });

  it('counts instructions, labels and schema with the items: a small batch padded with them is over the limit', async () => {
    const { client } = await newKey({ name: 'padded', scopes: ['submit', 'read'], limits: { tokensPerMinute: 400 } });
    await awayFromMinuteBoundary();
    const small = (task: Record<string, unknown>) => ({ ...doc('pad', 100), task });
    // ~3,000 characters of labels: 750 tokens in the one item's prompt, far over 400.
    const labels = await client.request(
      'POST',
      '/v1/batches',
      small({ type: 'classify', labels: ['invoice', 'receipt', 'l'.repeat(3000)] }),
    );
    expect(labels.status).toBe(413);
    expect(labels.json).toMatchObject({ field: 'items', limit: 'tokensPerMinute', max: 400 });
    const schema = { type: 'object', properties: { total: { type: 'number', description: 'd'.repeat(2000) } } };
    expect((await client.request('POST', '/v1/batches', small({ type: 'extract', schema }))).status).toBe(413);
    // 1,000 characters of instructions (~250 tokens) fit once; the same again in the minute does not.
    const instructions = small({ type: 'summarize', instructions: 'i'.repeat(1000) });
    expect((await client.request('POST', '/v1/batches', instructions)).status).toBe(202);
    const over = await client.request('POST', '/v1/batches', instructions);
    expect(over.status).toBe(429);
    expect(over.json).toMatchObject({ limit: 'tokensPerMinute', max: 400 });
  });

  it('limits submitted tokens per minute per key; a batch that can never fit is a 413', async () => {
    const { client } = await newKey({ name: 'tokens', scopes: ['submit', 'read'], limits: { tokensPerMinute: 400 } });
    await awayFromMinuteBoundary();
    // 1000 characters ≈ 250 tokens.
    expect((await client.request('POST', '/v1/batches', doc('tok-1', 1000))).status).toBe(202);
    const over = await client.request('POST', '/v1/batches', doc('tok-2', 1000));
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(over.json).toMatchObject({ limit: 'tokensPerMinute', max: 400 });
    // Reads submit no tokens.
    expect((await client.request('GET', '/v1/batches')).status).toBe(200);
    const huge = await client.request('POST', '/v1/batches', doc('tok-3', 2000));
    expect(huge.status).toBe(413);
    expect(huge.json).toMatchObject({ field: 'items', limit: 'tokensPerMinute', max: 400 });
  });
});

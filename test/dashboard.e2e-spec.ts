import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureGeneratedModel } from '#libs/gguf';
import { COLORS } from '../apps/api/src/dashboard/dashboard-pages.js';
import { PAGE_CSP } from '../apps/api/src/page-headers.js';
import { startTestRedis, type TestRedis } from './support/redis-server-process.js';
import { sleep, type ApiClient } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

const ADMIN_KEY = 'e2e-dashboard-admin-secret-0123456789';
/** An item id no page may turn into markup: a script that would run with the viewer's key. */
const XSS_ID = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';
/** Set DASHBOARD_SCREENSHOTS=1 to write the pages as docs/images/*.png (what the docs show). */
const SCREENSHOTS = process.env.DASHBOARD_SCREENSHOTS === '1';

const PROSE = 'The quarterly report covers revenue, costs, hiring plans and the outlook for next year. ';

/**
 * Documents: a restricted batch runs on the local model only; a public one goes to the cloud double, which
 * costs less per token here than the local model (LOCAL_PRICE_*), and the router picks the cheapest in time.
 */
const documents = (tag: string, n: number, over: { sensitivity: string; deadline: string; ids?: string[] }) => ({
  kind: 'document-processing',
  sensitivity: over.sensitivity,
  deadline: over.deadline,
  task: { type: 'summarize', maxTokens: 16 },
  items: Array.from({ length: n }, (_, i) => ({
    id: over.ids?.[i] ?? `${tag}-${i}`,
    text: `${tag}-${i}: ${PROSE.repeat(20)}`,
  })),
});

/**
 * Issue 15 §6 in a real browser: headless Chromium (Debian's package, driven by playwright-core) loads the
 * dashboard of a running system with local, cloud and rerouted batches in it, the key given as a Basic
 * password as a person would type it, and the test reads the rendered DOM.
 */
describe('the dashboard in a real browser', () => {
  const sys = useSystem(
    async ({ double }) => ({
      ADMIN_API_KEY: ADMIN_KEY,
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_MODEL_NAME: 'tiny',
      LOCAL_PRICE_INPUT_PER_M: '0.3',
      LOCAL_PRICE_OUTPUT_PER_M: '1.2',
      MAX_OUTPUT_TOKENS: '32',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      OPENAI_MODEL: 'double-model',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '100',
      CLOUD_TOKENS_PER_SEC: '2000',
      // A failed cloud call is not retried there: the item moves on at once (a reroute to see on the timeline).
      CLOUD_MAX_RETRIES: '0',
      JOB_ATTEMPTS: '1',
    }),
    { double: { apiKey: 'test-key' } },
  );
  let browser: Browser;
  let admin: ApiClient;
  let teamKey: string;
  const ids = { local: '', cloud: '', rerouted: '' };

  /** A page opened in a fresh browser context that answers the Basic challenge with `key` (none: no key). */
  async function open(path: string, key?: string, origin = sys.url): Promise<{ page: Page; status: number }> {
    const context = await browser.newContext({
      httpCredentials: key ? { username: 'dashboard', password: key } : undefined,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.dismiss());
    const res = await page.goto(origin + path);
    return { page, status: res?.status() ?? 0 };
  }

  beforeAll(async () => {
    // switchyard.test: the API by a name other than loopback's, as behind a DNS name of its own.
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--host-resolver-rules=MAP switchyard.test 127.0.0.1'],
    });
    admin = sys.client.withKey(ADMIN_KEY);
    const key = await admin.request('POST', '/v1/keys', { name: 'team', scopes: ['submit', 'read'], tenant: 'team' });
    expect(key.status).toBe(201);
    teamKey = key.json.secret;
    const team = sys.client.withKey(teamKey);

    const local = await team.request(
      'POST',
      '/v1/batches',
      documents('local', 3, { sensitivity: 'restricted', deadline: 'P1D', ids: ['local-0', XSS_ID, 'local-2'] }),
    );
    expect(local.status).toBe(202);
    ids.local = local.json.id;
    const cloud = await team.request(
      'POST',
      '/v1/batches',
      documents('cloud', 3, { sensitivity: 'public', deadline: 'P1D' }),
    );
    expect(cloud.status).toBe(202);
    ids.cloud = cloud.json.id;
    // The cloud batch's calls are done before the next call is made to fail.
    expect((await team.waitFinished(ids.cloud)).status).toBe('completed');
    sys.double.failNext(1, { status: 500 });
    const rerouted = await team.request(
      'POST',
      '/v1/batches',
      documents('moved', 3, { sensitivity: 'public', deadline: 'P1D' }),
    );
    expect(rerouted.status).toBe(202);
    ids.rerouted = rerouted.json.id;
    for (const id of [ids.local, ids.rerouted]) expect((await team.waitFinished(id)).status).toBe('completed');
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('refuses a request without a key with 401 and a Basic challenge, and a browser whose key lacks read with 403', async () => {
    for (const path of ['/dashboard', `/dashboard/batches/${ids.local}`]) {
      const bare = await fetch(sys.url + path);
      expect(bare.status).toBe(401);
      // What makes a browser ask for the key: Chromium itself shows its sign-in dialog on this challenge.
      expect(bare.headers.get('www-authenticate')).toMatch(/^Basic realm="Switchyard"/);
    }
    const submitOnly = await admin.request('POST', '/v1/keys', {
      name: 'submitter',
      scopes: ['submit'],
      tenant: 'team',
    });
    const refused = await open('/dashboard', submitOnly.json.secret);
    expect(refused.status).toBe(403);
    await refused.page.context().close();
  });

  it('lists the batches with their progress and routes as charts, and pools and providers for an admin key', async () => {
    const { page, status } = await open('/dashboard', ADMIN_KEY);
    expect(status).toBe(200);
    const rows = await page.$$eval('tr.batch', (trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute('data-batch-id'),
        status: tr.getAttribute('data-status'),
        progress: [...tr.querySelectorAll('td.progress rect.part')].map((r) => [
          r.getAttribute('data-part'),
          Number(r.getAttribute('data-value')),
        ]),
        routes: [...tr.querySelectorAll('td.routes rect.part')].map((r) => [
          r.getAttribute('data-part'),
          Number(r.getAttribute('data-value')),
          r.getAttribute('fill'),
        ]),
      })),
    );
    // Newest first: the rerouted batch, the cloud one, the local one.
    expect(rows.map((r) => r.id)).toEqual([ids.rerouted, ids.cloud, ids.local]);
    for (const row of rows) expect(row.status).toBe('completed');
    expect(rows.map((r) => r.progress)).toEqual([[['completed', 3]], [['completed', 3]], [['completed', 3]]]);
    for (const row of rows) {
      const batch = (await admin.request('GET', `/v1/batches/${row.id}`)).json;
      const expected = [
        ['local', batch.routes.local, COLORS.local],
        ['cloud', batch.routes.cloud, COLORS.cloud],
      ].filter(([, n]) => n > 0);
      expect(row.routes).toEqual(expected);
    }
    expect(rows[2].routes).toEqual([['local', 3, COLORS.local]]);
    expect(rows[1].routes).toEqual([['cloud', 3, COLORS.cloud]]);

    // The summary's route chart adds the rows up.
    const summary = await page.$$eval('#summary svg[aria-label="Items by route"] rect.part', (rects) =>
      rects.map((r) => [r.getAttribute('data-part'), Number(r.getAttribute('data-value'))]),
    );
    const routed = rows.flatMap((r) => r.routes);
    const sum = (where: string) => routed.filter(([p]) => p === where).reduce((s, [, n]) => s + Number(n), 0);
    expect(summary).toEqual([
      ['local', sum('local')],
      ['cloud', sum('cloud')],
    ]);

    // Pools and providers, as the API's admin routes report them.
    const pools = (await admin.request('GET', '/v1/pools')).json.pools;
    const shownPools = await page.$$eval('#pools tr.pool', (trs) => trs.map((tr) => tr.getAttribute('data-pool')));
    expect(shownPools.sort()).toEqual(pools.map((p: any) => p.id).sort());
    expect(await page.$$eval('#pools svg.bar-chart', (svgs) => svgs.length)).toBe(2);
    const providers = await page.$$eval('#providers tr.provider', (trs) =>
      trs.map((tr) => [tr.getAttribute('data-provider'), tr.getAttribute('data-circuit')]),
    );
    expect(providers).toContainEqual(['frontier', 'closed']);
    expect(providers).toContainEqual(['tiny', 'none']);
    if (SCREENSHOTS) await shoot(page, 'dashboard.png');
    await page.context().close();
  });

  it('shows a read key its tenant’s batches without the pools and providers, with a note instead', async () => {
    const other = await admin.request(
      'POST',
      '/v1/batches',
      documents('other', 1, { sensitivity: 'restricted', deadline: 'P1D' }),
    );
    expect(other.status).toBe(202);
    const { page, status } = await open('/dashboard', teamKey);
    expect(status).toBe(200);
    const shown = await page.$$eval('tr.batch', (trs) => trs.map((tr) => tr.getAttribute('data-batch-id')));
    expect(shown).toEqual([ids.rerouted, ids.cloud, ids.local]);
    expect(await page.$$('#pools, #providers')).toHaveLength(0);
    expect(await page.textContent('#admin-note')).toMatch(/admin scope/);
    await page.context().close();
    await admin.request('DELETE', `/v1/batches/${other.json.id}`);
  });

  it('draws a batch’s items on a timeline, coloured by where they ran, and marks the reroute', async () => {
    // One call failed: its item (whichever the cloud pool called first) moved to the local model.
    const items = (await admin.request('GET', `/v1/batches/${ids.rerouted}/items`)).json.items;
    const history = (item: any) => item.routeHistory.map((r: any) => r.target).join(' → ');
    const movedItem = items.find((i: any) => i.routeHistory.length > 1);
    expect(items.map(history).sort()).toEqual(['cloud', 'cloud', 'cloud → local']);
    const { page, status } = await open(`/dashboard/batches/${ids.rerouted}`, teamKey);
    expect(status).toBe(200);
    const drawn = await page.$$eval('svg.timeline g.item', (gs) =>
      gs.map((g) => ({
        item: g.getAttribute('data-item'),
        spans: [...g.querySelectorAll('rect.span')].map((r) => [r.getAttribute('data-span'), r.getAttribute('fill')]),
        moves: [...g.querySelectorAll('path.move')].map((m) => m.getAttribute('data-move')),
      })),
    );
    expect(drawn).toEqual(
      items.map((item: any) => ({
        item: item.id,
        // The moved item ran on the cloud until its call failed, then locally.
        spans:
          item === movedItem
            ? [
                ['queued', COLORS.queued],
                ['running', COLORS.cloud],
                ['running', COLORS.local],
              ]
            : [
                ['queued', COLORS.queued],
                ['running', COLORS.cloud],
              ],
        moves: item === movedItem ? ['reroute'] : [],
      })),
    );
    // Routes by provider: where each item ended.
    const providers = await page.$$eval('#providers-chart g.bar', (gs) =>
      gs.map((g) => [g.getAttribute('data-part'), Number(g.getAttribute('data-value'))]),
    );
    expect(providers.sort()).toEqual([
      ['cloud frontier', 2],
      ['local tiny', 1],
    ]);
    if (SCREENSHOTS) await shoot(page, 'dashboard-batch.png');
    await page.context().close();

    const cloud = await open(`/dashboard/batches/${ids.cloud}`, teamKey);
    const fills = await cloud.page.$$eval('svg.timeline rect.span[data-span="running"]', (rects) =>
      rects.map((r) => r.getAttribute('fill')),
    );
    expect(fills).toEqual([COLORS.cloud, COLORS.cloud, COLORS.cloud]);
    await cloud.page.context().close();
  });

  it('shows a user-given id as text: the page holds no script and runs none', async () => {
    const { page, status } = await open(`/dashboard/batches/${ids.local}`, teamKey);
    expect(status).toBe(200);
    const labels = await page.$$eval('svg.timeline g.item', (gs) => gs.map((g) => g.getAttribute('data-item')));
    expect(labels).toEqual(['local-0', XSS_ID, 'local-2']);
    expect(await page.$$eval('script, img', (els) => els.length)).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    const fills = await page.$$eval('svg.timeline rect.span[data-span="running"]', (rects) =>
      rects.map((r) => r.getAttribute('fill')),
    );
    expect(fills).toEqual([COLORS.local, COLORS.local, COLORS.local]);
    await page.context().close();
  });

  it('serves a secured API by any name it is reached by: the key, not the Host, decides', async () => {
    const byName = await open('/dashboard', teamKey, `http://switchyard.test:${new URL(sys.url).port}`);
    expect(byName.status).toBe(200);
    expect(await byName.page.$$eval('tr.batch', (trs) => trs.length)).toBeGreaterThan(0);
    await byName.page.context().close();
  });

  it('lets no other site frame the dashboard or Bull Board, and keeps neither page in the browser’s cache', async () => {
    // Another site that frames both pages: the operator's browser would send their Basic key with each.
    const framing = await serve(
      `<!doctype html><iframe id="dashboard" src="${sys.url}/dashboard"></iframe>` +
        `<iframe id="board" src="${sys.url}/admin/queues"></iframe>`,
    );
    try {
      const { page } = await open('/', ADMIN_KEY, framing.url);
      await page.waitForLoadState('load');
      const framed = await Promise.all(
        page
          .frames()
          .filter((f) => f !== page.mainFrame())
          .map(async (f) => [f.url(), (await f.$$('tr.batch, #root')).length]),
      );
      expect(framed.length).toBe(2);
      // Blocked, each frame holds the browser's error page: no batch row, no board.
      for (const [url, shown] of framed) expect([url, shown]).toEqual([url, 0]);
      await page.context().close();
    } finally {
      framing.server.close();
    }
    const { page } = await open('/admin/queues', ADMIN_KEY);
    const answers: Array<[string, string | undefined]> = [];
    page.on('response', (r) => answers.push([new URL(r.url()).pathname, r.headers()['cache-control']]));
    await page.reload();
    await page.getByText('inference-local.tiny').first().waitFor();
    const data = answers.filter(([path]) => path === '/admin/queues' || path.startsWith('/admin/queues/api/'));
    expect(data.length).toBeGreaterThan(1);
    for (const [path, cache] of data) expect([path, cache]).toEqual([path, 'no-store']);
    await page.context().close();
  });

  it('loads Bull Board from the API alone: no request leaves for another site, and the board still works', async () => {
    const { page } = await open('/admin/queues', ADMIN_KEY);
    // What leaves for elsewhere is answered here (this machine may have no way out): a request the page's
    // policy blocks never gets this far.
    const requested: string[] = [];
    await page.context().route(
      (url) => !url.href.startsWith(sys.url),
      (route) => {
        requested.push(route.request().url());
        return route.fulfill({ status: 200, contentType: 'text/css', body: '' });
      },
    );
    await page.reload();
    await page.getByText('inference-local.tiny').first().waitFor();
    expect(requested.filter((url) => !url.startsWith(sys.url))).toEqual([]);
    // The board works under its policy: a queue's jobs with their data, a user-given item id in it shown as text.
    const errors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    await page.goto(`${sys.url}/admin/queues/queue/inference-local.tiny?status=completed`);
    await page.getByText('window.__xss = 1', { exact: false }).first().waitFor();
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    // Refused by the policy, the only thing that is: the font stylesheet the board links from Google.
    expect(errors.filter((text) => !text.includes('https://fonts.googleapis.com/'))).toEqual([]);
    await page.context().close();
  });

  it('gives Bull Board’s times in UTC, named so, as the dashboard does, wherever the browser is', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'board', password: ADMIN_KEY },
      timezoneId: 'America/New_York',
    });
    const page = await context.newPage();
    await page.goto(`${sys.url}/admin/queues/queue/inference-local.tiny?status=completed`);
    await page.getByText('local-0', { exact: false }).first().waitFor();
    const times = await page.$$eval('time', (ts) => ts.map((t) => t.textContent ?? ''));
    expect(times.length).toBeGreaterThan(0);
    for (const time of times) expect(time).toMatch(/UTC$/);
    await context.close();
  });

  it('answers another tenant’s batch or an unknown one with 404, and a bad parameter with 400 naming it', async () => {
    const team = sys.client.withKey(teamKey);
    const theirs = await admin.request(
      'POST',
      '/v1/batches',
      documents('theirs', 1, { sensitivity: 'restricted', deadline: 'P1D' }),
    );
    expect((await team.request('GET', `/dashboard/batches/${theirs.json.id}`)).status).toBe(404);
    expect((await team.request('GET', '/dashboard/batches/no-such-batch')).status).toBe(404);
    const bad = await team.request('GET', '/dashboard?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.json.field).toBe('limit');
    await admin.request('DELETE', `/v1/batches/${theirs.json.id}`);
  });
});

/** A one-page site of its own on another port: another origin than the API's. */
async function serve(html: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function shoot(page: Page, name: string): Promise<void> {
  const dir = join(process.cwd(), 'docs/images');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, name), fullPage: true });
}

/** Open mode: no key anywhere, the API on loopback. The dashboard opens without asking, pools and providers too. */
describe('the dashboard in open mode', () => {
  const sys = useSystem({}, { workers: 0 });

  it('opens in a browser without a key, with the pools and providers panels', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const res = await page.goto(`${sys.url}/dashboard`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toBe(PAGE_CSP);
      expect(await page.textContent('#no-batches')).toMatch(/No batches yet/);
      expect(await page.$$('#pools')).toHaveLength(1);
      expect(await page.$$('#providers')).toHaveLength(1);
      expect(await page.$$('#admin-note')).toHaveLength(0);
    } finally {
      await browser.close();
    }
  });

  it('pages through every batch, not only the newest 500: older batches a link away, as the API lists them', async () => {
    for (const tag of ['page-a', 'page-b', 'page-c', 'page-d']) {
      const created = await sys.client.request('POST', '/v1/batches', {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadline: 'PT1H',
        task: { type: 'summarize' },
        items: [{ id: tag, text: `${tag}: text` }],
      });
      expect(created.status).toBe(202);
    }
    const listed = (await sys.client.request('GET', '/v1/batches?limit=500')).json.batches.map((b: any) => b.id);
    expect(listed).toHaveLength(4);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${sys.url}/dashboard?limit=2`);
      const shown: string[] = [];
      for (;;) {
        shown.push(...(await page.$$eval('tr.batch', (trs) => trs.map((tr) => tr.getAttribute('data-batch-id')!))));
        const older = await page.$$('a.older');
        if (older.length === 0) break;
        await Promise.all([page.waitForNavigation(), older[0].click()]);
        expect(await page.$$('a.newest')).toHaveLength(1);
      }
      expect(shown).toEqual(listed);
      // The last page: the list's end said, and the way back to the newest.
      expect(await page.textContent('#no-batches')).toMatch(/No older batches/);
      await Promise.all([page.waitForNavigation(), page.click('a.newest')]);
      expect(await page.$$eval('tr.batch', (trs) => trs.map((tr) => tr.getAttribute('data-batch-id')))).toEqual(
        listed.slice(0, 2),
      );
    } finally {
      await browser.close();
    }
  });

  it('takes no write from another site’s page: a file it uploads to the open API is refused', async () => {
    const before = (await sys.client.request('GET', '/openai/v1/files')).json.data.length;
    // A page on another site that uploads a file, as any page the operator opens may: a multipart POST needs no
    // CORS preflight, and an open API no key.
    const line = JSON.stringify({
      custom_id: 'planted',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'any', messages: [{ role: 'user', content: 'planted by another site' }] },
    });
    const site = await serve(
      `<!doctype html><script>const form = new FormData(); form.append('purpose', 'batch');` +
        `form.append('file', new Blob([${JSON.stringify(line + '\n')}]), 'planted.jsonl');` +
        `fetch(${JSON.stringify(`${sys.url}/openai/v1/files`)}, { method: 'POST', mode: 'no-cors', body: form });</script>`,
    );
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--host-resolver-rules=MAP other-site.test 127.0.0.1'],
    });
    try {
      const page = await browser.newPage();
      const posted = page.waitForResponse((r) => r.url() === `${sys.url}/openai/v1/files`);
      await page.goto(`http://other-site.test:${new URL(site.url).port}/`);
      expect((await posted).status()).toBe(403);
      expect((await sys.client.request('GET', '/openai/v1/files')).json.data).toHaveLength(before);
    } finally {
      await browser.close();
      site.server.close();
    }
  });

  it('serves no page whose own name was re-pointed at 127.0.0.1 (DNS rebinding): it reads no batch', async () => {
    const created = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT1H',
      task: { type: 'summarize' },
      items: [{ id: 'board-minutes', text: 'The board met in private.' }],
    });
    expect(created.status).toBe(202);
    // A page the operator opened at rebound.test, whose name now answers with 127.0.0.1: the same origin as the API.
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--host-resolver-rules=MAP rebound.test 127.0.0.1'],
    });
    try {
      const page = await browser.newPage();
      const port = new URL(sys.url).port;
      const res = await page.goto(`http://rebound.test:${port}/dashboard`);
      expect(res?.status()).toBe(403);
      expect(await page.textContent('body')).not.toContain(created.json.id);
      const read = await page.evaluate(async () => {
        const answers = await Promise.all(
          ['/v1/batches', '/admin/queues/api/queues', '/openai/v1/files'].map(async (path) => {
            const r = await fetch(path);
            return { path, status: r.status, body: await r.text() };
          }),
        );
        return answers;
      });
      for (const answer of read) {
        expect([answer.path, answer.status]).toEqual([answer.path, 403]);
        expect(answer.body).not.toContain(created.json.id);
      }
      // The operator's own browser, by loopback's names, still opens it.
      for (const origin of [sys.url, `http://localhost:${port}`]) {
        const own = await page.goto(`${origin}/dashboard`);
        expect(own?.status()).toBe(200);
        expect(await page.$$eval('tr.batch', (trs) => trs.map((tr) => tr.getAttribute('data-batch-id')))).toContain(
          created.json.id,
        );
      }
    } finally {
      await browser.close();
    }
  });
});

/** Redis stops under a running API: what Bull Board and the dashboard show an operator who has them open. */
describe('the pages while Redis is down', () => {
  let redis: TestRedis | undefined;
  const sys = useSystem(
    async () => {
      redis = await startTestRedis();
      return { REDIS_URL: redis.url, ADMIN_API_KEY: ADMIN_KEY };
    },
    { workers: 0 },
  );
  afterAll(async () => {
    await redis?.stop();
  });

  it('answers the board’s calls at once with a 503 saying the store is unreachable, instead of leaving them hanging', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext({ httpCredentials: { username: 'board', password: ADMIN_KEY } });
      const page = await context.newPage();
      await page.goto(`${sys.url}/admin/queues`);
      await page.getByText('maintenance.sweeps').first().waitFor();
      const port = redis!.port;
      await redis!.stop();
      redis = undefined;
      // The API has seen the outage once a read of the store fails.
      const admin = sys.client.withKey(ADMIN_KEY);
      while ((await admin.request('GET', '/v1/batches')).status !== 503) await sleep(100);
      // The board polls its queues: each call is answered, not left waiting for Redis.
      const polled = await page.waitForResponse((r) => new URL(r.url()).pathname === '/admin/queues/api/queues');
      expect(polled.status()).toBe(503);
      expect(polled.headers()['retry-after']).toBeDefined();
      expect((await polled.json()).message).toMatch(/Redis\) cannot be reached/);
      // What the operator reads on the board.
      await page.getByText('the job store (Redis) cannot be reached').first().waitFor();
      // Redis back: the board's next polls are answered from it again.
      redis = await startTestRedis({ port });
      await page.waitForResponse((r) => new URL(r.url()).pathname === '/admin/queues/api/queues' && r.status() === 200);
    } finally {
      await browser.close();
    }
  });

  it('shows the dashboard’s reader that the store cannot be reached, on a page that goes on refreshing itself', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext({ httpCredentials: { username: 'dashboard', password: ADMIN_KEY } });
      const page = await context.newPage();
      expect((await page.goto(`${sys.url}/dashboard`))?.status()).toBe(200);
      const port = redis!.port;
      await redis!.stop();
      redis = undefined;
      for (const path of ['/dashboard', '/dashboard/batches/some-batch']) {
        const down = await page.goto(`${sys.url}${path}`);
        expect(down?.status()).toBe(503);
        expect(down?.headers()['retry-after']).toBeDefined();
        expect(await page.$$('#unavailable')).toHaveLength(1);
        expect(await page.textContent('#unavailable')).toMatch(/job store \(Redis\) cannot be reached/);
        // The next try comes by itself, as on every page of the dashboard.
        expect(await page.getAttribute('meta[http-equiv="refresh"]', 'content')).toBe('10');
      }
      redis = await startTestRedis({ port });
      let back = await page.goto(`${sys.url}/dashboard`);
      while (back?.status() === 503) back = await page.reload();
      expect(back?.status()).toBe(200);
      expect(await page.$$('#summary')).toHaveLength(1);
    } finally {
      await browser.close();
    }
  });
});

import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

/** In every item's text; must never appear in the audit trail. */
const CANARY = 'CANARY-AUDIT-5e1d0c';

/**
 * The audit trail against the running system: one route entry per item, one egress entry per request
 * the double received (counted independently, at the other end of the wire), reroutes as they happen,
 * and no content.
 */
describe('audit trail (GET /v1/audit)', () => {
  const text = (i: number) =>
    `audit-item-${i} ${CANARY} ` + 'The quarterly report covers revenue, costs and hiring plans. '.repeat(16);

  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_TOKENS_PER_SEC: '20',
      MAX_OUTPUT_TOKENS: '32',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
      // One client retry and no queue retry: a request that fails twice moves the item (a reroute).
      CLOUD_MAX_RETRIES: '1',
      JOB_ATTEMPTS: '1',
      // Card numbers make an item restricted: it may only run locally.
      PII_RULES: '{"card": "restricted"}',
    }),
    { double: { apiKey: 'test-key' } },
  );

  const indexOfRequest = (body: unknown) => Number(/audit-item-(\d+) /.exec(JSON.stringify(body))?.[1]);

  it('records one route per item, one egress per request that left, the reroute, and nothing for restricted items', async () => {
    // Items 0-3 go to the cloud (a deadline the local model cannot meet), 4-5 hold a card number and stay local.
    const items = [0, 1, 2, 3, 4, 5].map((i) => ({
      id: `doc-${i}`,
      text: i >= 4 ? `${text(i)} Paid with card 4111 1111 1111 1111.` : text(i),
    }));
    // The four first requests fail, and so does the first retry: three items succeed on their retry,
    // one fails twice and is rerouted to the local model. 4 + 4 requests leave.
    sys.double.failNext(5, { status: 503 });
    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT2S',
      task: { type: 'summarize', maxTokens: 16 },
      items,
    });
    expect(submitted.status).toBe(202);
    const batchId = submitted.json.id;
    const batch = await sys.client.waitFinished(batchId);
    expect(batch.status).toBe('completed');
    const { json: view } = await sys.client.request('GET', `/v1/batches/${batchId}/items`);

    const all = await readAll(`batchId=${batchId}`);
    const routes = all.filter((e) => e.kind === 'route');
    expect(routes.map((e) => e.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const e of routes) {
      const item = view.items[e.index];
      expect(e).toMatchObject({
        batchId,
        itemId: `doc-${e.index}`,
        target: item.routeHistory[0].target,
        provider: item.routeHistory[0].provider,
        sensitivity: item.sensitivity,
        reason: item.routeHistory[0].reason,
      });
      expect(e.clearance).toBe(e.target === 'local' ? 'restricted' : 'internal');
    }
    expect(
      routes.filter((e) => e.index >= 4).every((e) => e.target === 'local' && e.sensitivity === 'restricted'),
    ).toBe(true);

    // Every request the double received has its egress entry, and no entry lacks its request.
    const sent = sys.double.completionRequests().map((r) => indexOfRequest(r.body));
    const egress = all.filter((e) => e.kind === 'egress');
    expect(sent).toHaveLength(8);
    expect(egress.map((e) => e.index).sort()).toEqual([...sent].sort());
    expect(
      egress.every((e) => e.provider === 'frontier' && e.clearance === 'internal' && e.sensitivity === 'internal'),
    ).toBe(true);
    // Which model saw each item: the one its request named.
    const models = new Set(sys.double.completionRequests().map((r) => (r.body as { model: string }).model));
    expect(models.size).toBe(1);
    expect(egress.map((e) => e.model)).toEqual(Array(8).fill([...models][0]));
    expect(egress.map((e) => e.attempt).sort()).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    expect(egress.some((e) => e.index >= 4)).toBe(false);
    expect(all.filter((e) => e.kind === 'egress-refused')).toEqual([]);

    // Every later move is there too: exactly one here, the item whose retry failed as well.
    const reroutes = all.filter((e) => e.kind === 'reroute');
    const moved = view.items.filter((i: any) => i.routeHistory.length > 1);
    expect(moved).toHaveLength(1);
    expect(reroutes).toEqual([
      expect.objectContaining({
        index: moved[0].index,
        target: 'local',
        provider: moved[0].route.provider,
        sensitivity: 'internal',
        reason: expect.stringMatching(/^from cloud frontier: frontier failed: .*HTTP 503/),
      }),
    ]);
    // Each item's entries come in the order its routes were taken.
    for (const item of view.items) {
      const moves = all
        .filter((e) => e.index === item.index && (e.kind === 'route' || e.kind === 'reroute'))
        .map((e) => `${e.target}:${e.provider}`);
      expect(moves).toEqual(item.routeHistory.map((r: any) => `${r.target}:${r.provider}`));
    }

    expect(JSON.stringify(all)).not.toContain(CANARY);
    expect(JSON.stringify(all)).not.toContain('4111');
  });

  it('exports the filtered trail as NDJSON that parses line by line and matches the pages', async () => {
    const { json: list } = await sys.client.request('GET', '/v1/batches?limit=1');
    const batchId = list.batches[0].id;
    const paged = await readAll(`batchId=${batchId}`);
    const byQuery = await fetch(`${sys.client.baseUrl}/v1/audit?format=ndjson&batchId=${batchId}`);
    expect(byQuery.headers.get('content-type')).toContain('application/x-ndjson');
    const body = await byQuery.text();
    expect(body.endsWith('\n')).toBe(true);
    const lines = body
      .split('\n')
      .slice(0, -1)
      .map((line) => JSON.parse(line));
    expect(lines).toEqual(paged);
    expect(body).not.toContain(CANARY);

    const byAccept = await fetch(`${sys.client.baseUrl}/v1/audit?kind=egress&batchId=${batchId}`, {
      headers: { accept: 'application/x-ndjson' },
    });
    const egress = (await byAccept.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(egress).toEqual(paged.filter((e) => e.kind === 'egress'));

    // The whole trail, unfiltered, holds at least this batch.
    const everything = (await (await fetch(`${sys.client.baseUrl}/v1/audit?format=ndjson`)).text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(everything.length).toBeGreaterThanOrEqual(paged.length);
  });

  it('answers 400 naming the query parameter that is wrong', async () => {
    for (const [query, field] of [
      ['kind=leak', 'kind'],
      ['after=yesterday', 'after'],
      // Shaped as an id, but past what Redis takes (each part an unsigned 64-bit integer): not a 500.
      ['after=99999999999999999999-0', 'after'],
      ['after=1-18446744073709551616', 'after'],
      ['limit=0', 'limit'],
      ['format=xml', 'format'],
    ]) {
      const res = await sys.client.request('GET', `/v1/audit?${query}`);
      expect([res.status, res.json?.field]).toEqual([400, field]);
    }
  });

  /** Every entry matching `query`, by following `next` with small pages. */
  async function readAll(query: string): Promise<any[]> {
    const entries: any[] = [];
    let after = '';
    for (;;) {
      const res = await sys.client.request('GET', `/v1/audit?${query}&limit=3${after ? `&after=${after}` : ''}`);
      expect(res.status).toBe(200);
      entries.push(...res.json.entries);
      if (res.json.next === null) return entries;
      after = res.json.next;
    }
  }
});

import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { startApp } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/** Strings that must never reach a log: each marks one kind of secret or user data. */
const CANARIES = {
  itemText: 'CANARY-TEXT-3b9e71',
  instruction: 'CANARY-INSTRUCTION-d40a2c',
  answer: 'CANARY-ANSWER-81f6e5',
  apiKey: 'sk-CANARY-KEY-57c2aa',
};

/**
 * A full mixed run — documents and a code migration, local and cloud, with 5xx, 429, a hang and a cut
 * stream from the provider, retries, reroutes, invalid answers, a cancellation and rejected
 * submissions — with canaries planted in item text, the instruction, the provider's answers and the
 * provider key. Afterwards every line the API and the worker wrote is JSON, and no canary is in any.
 */
describe('logs hold no content and no keys (canary)', () => {
  const prose = (tag: string) =>
    `${tag} ${CANARIES.itemText} ` + 'The quarterly report covers revenue, costs and hiring plans. '.repeat(16);

  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_TOKENS_PER_SEC: '20',
      MAX_OUTPUT_TOKENS: '48',
      // Above the tiny model's training context (4096): llama.cpp warns through node-llama-cpp's own logger.
      LOCAL_CONTEXT_SIZE: '8192',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: CANARIES.apiKey,
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
      CLOUD_TIMEOUT_MS: '1500',
      // No client retry: every fault fails an attempt, which the queue retries (and logs), or reroutes.
      CLOUD_MAX_RETRIES: '0',
      JOB_ATTEMPTS: '2',
    }),
    { double: { apiKey: CANARIES.apiKey } },
  );

  it('runs a mixed batch set with faults, then finds only JSON lines and no canary in the api and worker output', async () => {
    const fenced = (code: string) => '```js\n' + code + '```';
    sys.double.setResponder((body) => {
      const prompt = JSON.stringify(body.messages);
      if (body.response_format) {
        // Structured answers: the first one for each item is rejected and holds the canary — a classification
        // that is not JSON, an extraction with the canary as a property the schema forbids (the checker's
        // message names it) — and the one asked for again is valid.
        const isLabel = Boolean(body.response_format.json_schema.schema.properties.label);
        if (!prompt.includes('Your previous answer was rejected'))
          return isLabel
            ? `Here you go: ${CANARIES.answer} {`
            : `{"total": 250, "paid": true, "${CANARIES.answer}": 1}`;
        return isLabel ? '{"label": "finance"}' : '{"total": 250, "paid": true}';
      }
      if (prompt.includes('File: src/')) return fenced(`// ${CANARIES.answer}\nexport const x = 1;\n`);
      return `Summary: ${CANARIES.answer}.`;
    });
    const submit = async (body: unknown) => {
      const res = await sys.client.request('POST', '/v1/batches', body);
      expect(res.status).toBe(202);
      return res.json.id as string;
    };
    // Cloud, before any fault (so it stays there): an extraction whose first answer has the canary as a
    // property the schema forbids; the checker's message names it, and it is asked for again.
    const extraction = await submit({
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT1S', // local (20 tok/s assumed) cannot answer in time; the cloud can
      task: {
        type: 'extract',
        schema: {
          type: 'object',
          properties: { total: { type: 'integer' }, paid: { type: 'boolean' } },
          required: ['total', 'paid'],
          additionalProperties: false,
        },
        maxTokens: 24,
      },
      items: [{ id: 'inv-1', text: `Invoice ${CANARIES.itemText}: total 250 EUR, paid.` }],
    });
    expect(await sys.client.waitFinished(extraction, 60_000)).toMatchObject({
      status: 'completed',
      routes: { cloud: 1 },
    });
    const { json: extracted } = await sys.client.request('GET', `/v1/batches/${extraction}/items`);
    expect(extracted.items[0].attempts).toBe(1);
    expect(
      sys.double
        .completionRequests()
        .filter((r) => JSON.stringify(r.body).includes('inv-1') || JSON.stringify(r.body).includes('Invoice')),
    ).toHaveLength(2);

    // Faults on the first requests: retried by the client, by the queue, or rerouted to the local model.
    sys.double.failNext(2, { status: 503 });
    sys.double.failNext(1, { status: 429, retryAfterSec: 0 });
    sys.double.failNext(1, { cutStream: true });
    sys.double.failNext(1, { hang: true });
    sys.double.failNext(1, { status: 500 });

    const ids = [
      // Cloud (a deadline local cannot meet): summaries under faults.
      await submit({
        kind: 'document-processing',
        sensitivity: 'internal',
        deadline: 'PT2S',
        task: { type: 'summarize', maxTokens: 24 },
        items: [0, 1, 2, 3].map((i) => ({ id: `sum-${i}`, text: prose(`sum-${i}`) })),
      }),
      // Cloud: classification whose answers carry the canary.
      await submit({
        kind: 'document-processing',
        sensitivity: 'public',
        deadline: 'PT2S',
        task: { type: 'classify', labels: ['finance', 'hiring'], maxTokens: 16 },
        items: [0, 1].map((i) => ({ id: `cls-${i}`, text: prose(`cls-${i}`) })),
      }),
      // Local only: restricted documents.
      await submit({
        kind: 'document-processing',
        sensitivity: 'restricted',
        deadline: 'P1D',
        task: { type: 'summarize', maxTokens: 16 },
        items: [0, 1].map((i) => ({ id: `sec-${i}`, text: prose(`sec-${i}`) })),
      }),
    ];
    // A cancelled batch (its running items are aborted).
    const cancelled = await submit({
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 48 },
      items: [0, 1, 2, 3, 4].map((i) => ({ id: `c-${i}`, text: prose(`c-${i}`) })),
    });
    expect((await sys.client.request('DELETE', `/v1/batches/${cancelled}`)).status).toBe(200);
    // Rejected submissions that carry the canary in the wrong places, and a body that is not JSON.
    const rejected = [
      {
        kind: 'document-processing',
        sensitivity: CANARIES.itemText,
        deadline: 'P1D',
        task: { type: 'summarize' },
        items: [{ id: 'x', text: CANARIES.itemText }],
      },
      {
        kind: 'code-migration',
        sensitivity: 'public',
        deadline: 'P1D',
        task: { instruction: CANARIES.instruction },
        items: [{ path: CANARIES.itemText, content: 42 }],
      },
      `{"kind": "document-processing", "items": [{"text": "${CANARIES.itemText}"`,
    ];
    for (const body of rejected) expect((await sys.client.request('POST', '/v1/batches', body)).status).toBe(400);
    // The provider key sent as this request's credentials (Authorization and X-Api-Key), item text in its path and
    // query: no such batch (open mode ignores a key sent to it), and its access line names the route pattern alone.
    const credentials = { authorization: `Bearer ${CANARIES.apiKey}`, 'x-api-key': CANARIES.apiKey };
    const path = `/v1/batches/${CANARIES.itemText}?q=${CANARIES.instruction}`;
    expect((await sys.client.request('GET', path, undefined, credentials)).status).toBe(404);
    // Code migration: the local model's random answers never parse (they are cut off at 32 tokens, then at
    // 48), so it escalates to the cloud. Submitted once the cloud batches are done, so the faults above are
    // spent: a local answer cut off at the limit now escalates after two calls instead of three, and would
    // otherwise meet them, be sent back to the local model and fail there (issue 12, §1).
    await Promise.all(ids.slice(0, 2).map((id) => sys.client.waitFinished(id, 120_000)));
    ids.push(
      await submit({
        kind: 'code-migration',
        sensitivity: 'internal',
        deadline: 'P1D',
        task: { instruction: `Convert to ES modules and keep the marker ${CANARIES.instruction}`, maxTokens: 32 },
        items: [{ path: 'src/a.js', content: `// ${CANARIES.itemText}\nconst a = 1;\nmodule.exports = { a };\n` }],
      }),
    );

    const finished = await Promise.all([...ids, cancelled].map((id) => sys.client.waitFinished(id, 120_000)));
    // The run did what it should: the cloud answered, the local model ran, faults were met.
    const statuses = finished.map((b) => b.status);
    expect(statuses.slice(0, 4)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(finished[0].routes.cloud + finished[1].routes.cloud).toBeGreaterThan(0);
    expect(sys.double.completionRequests().some((r) => JSON.stringify(r.body).includes(CANARIES.instruction))).toBe(
      true,
    );
    const { json: code } = await sys.client.request('GET', `/v1/batches/${ids[3]}/items`);
    expect(code.items[0].result).toContain(CANARIES.answer);

    // Stop both processes so shutdown logging is included too.
    await Promise.all([sys.api.stop(), sys.worker.stop()]);
    // The paths that log were taken: retries and rejected answers warn, and llama.cpp warned in its own words.
    const workerLines = sys.worker.output
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '');
    expect(workerLines.some((l) => l.includes('"level":"warn"') && l.includes('will retry'))).toBe(true);
    expect(workerLines.some((l) => l.includes('"level":"warn"') && l.includes('rejected'))).toBe(true);
    expect(workerLines.find((l) => l.includes('n_ctx_train'))).toMatch(/^\{"level":"warn".*"context":"worker"\}$/);
    // The API wrote an access line for each submission (accepted, refused by a check, or not JSON) and for the
    // request above; the canary check below covers them with every other line.
    const access = sys.api.output
      .join('')
      .split('\n')
      .filter((l) => l.includes('"context":"access"') && l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l).message);
    const submissions = access.filter((a) => a.method === 'POST').map((a) => `${a.route} ${a.status}`);
    expect(submissions.sort()).toEqual([
      ...Array(6).fill('/v1/batches 202'),
      ...Array(2).fill('/v1/batches 400'),
      'null 400', // not JSON: refused by the body parser, before routing
    ]);
    expect(access.filter((a) => a.status === 404)).toEqual([
      expect.objectContaining({ method: 'GET', route: '/v1/batches/:id', keyId: null }),
    ]);
    for (const [name, proc] of [
      ['api', sys.api],
      ['worker', sys.worker],
    ] as const) {
      const output = proc.output.join('');
      for (const [what, canary] of Object.entries(CANARIES)) {
        const line = output.split('\n').find((l) => l.includes(canary));
        expect({ process: name, canary: what, line }).toEqual({ process: name, canary: what, line: undefined });
      }
      const lines = output.split('\n').filter((l) => l.trim() !== '');
      expect(lines.length).toBeGreaterThan(3);
      const notJson = lines.filter((l) => {
        try {
          return typeof JSON.parse(l) !== 'object';
        } catch {
          return true;
        }
      });
      expect({ process: name, notJson }).toEqual({ process: name, notJson: [] });
    }
  });

  it.each([
    ['api', 'a bad setting', { OPENAI_BASE_URL: 'not a url' }, 'OPENAI_BASE_URL: expected an absolute URL'],
    ['worker', 'a bad setting', { OPENAI_BASE_URL: 'not a url' }, 'OPENAI_BASE_URL: expected an absolute URL'],
    ['api', 'an unreachable Redis', { REDIS_URL: 'redis://127.0.0.1:1' }, 'ECONNREFUSED'],
    // LOG_FORMAT is read before anything else: a wrong one is still reported as JSON.
    ['api', 'a bad log format', { LOG_FORMAT: 'xml' }, 'LOG_FORMAT: expected one of json, pretty'],
    ['worker', 'an unreachable Redis', { REDIS_URL: 'redis://127.0.0.1:1' }, 'ECONNREFUSED'],
  ] as const)(
    'the %s reports a start-up failure (%s) in JSON lines only, without the key',
    async (app, _what, overrides, expected) => {
      const proc = startApp(app, { ...sys.env, OPENAI_API_KEY: CANARIES.apiKey, ...overrides });
      const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
      expect(code).not.toBe(0);
      const lines = proc.output
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '');
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      expect(lines.join('\n')).toContain(expected);
      expect(lines.join('\n')).not.toContain(CANARIES.apiKey);
    },
  );
});

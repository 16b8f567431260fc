import { beforeAll, describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { JobName, itemJobId, queueRefFor, type JobSpec } from '#libs/queue';
import type { ApiClient } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

const ADMIN_KEY = 'e2e-input-hardening-admin-secret-0123456789';

/**
 * Issue 13 §1, §4 and §7, issue 12 §6, on real processes (API → Redis/BullMQ → worker → the recording
 * OpenAI double, cleared to `internal`): disguised personal data never reaches a provider not cleared for
 * it, bad deadlines, schemas and fields are refused naming the field, a body is read only for a valid key,
 * and an Idempotency-Key cannot be reused for another body.
 */
describe('input hardening end to end', () => {
  // ~1000 characters: 3 s at the local 20 tok/s, so a PT2S public item goes to the cloud when it may.
  const longText = (tag: string) =>
    `${tag} ` + 'The quarterly report covers revenue, costs and hiring plans. '.repeat(16);
  const summarize = (tag: string, extra: Record<string, unknown> = {}) => ({
    kind: 'document-processing',
    sensitivity: 'public',
    deadline: 'PT2S',
    task: { type: 'summarize' },
    items: [{ id: `${tag}-0`, text: longText(`${tag}-0`) }],
    ...extra,
  });
  const sentBodies = () => sys.double.requests.map((r) => JSON.stringify(r.body ?? ''));

  const sys = useSystem(
    async ({ double }) => ({
      ADMIN_API_KEY: ADMIN_KEY,
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_TOKENS_PER_SEC: '20',
      MAX_OUTPUT_TOKENS: '64',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      OPENAI_MODEL: 'double-model',
      CLOUD_MAX_SENSITIVITY: 'internal',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
      CLOUD_MAX_RETRIES: '0',
      RATE_LIMIT_REQUESTS_PER_MINUTE: '0',
    }),
    { double: { apiKey: 'test-key' } },
  );
  let admin: ApiClient;
  beforeAll(() => {
    admin = sys.client.withKey(ADMIN_KEY);
  });

  describe('the PII floor sees through disguises in every field (issue 13 §1)', () => {
    it('sends a plain public item to the cloud, and a public item with a disguised card number only locally', async () => {
      const disguised = [
        '４１１１ １１１１ １１１１ １１１１', // fullwidth digits and spaces
        '4111.1111.1111.1111',
        '4111\u200b1111\u200b1111\u200b1111', // zero-width spaces
        '4111\u20091111\u20091111\u20091111', // thin spaces
        '٤١١١ ١١١١ ١١١١ ١١١١', // Arabic-Indic digits
        '4111\n1111\n1111\n1111', // a group a line
        '4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1', // a space between every digit
      ];
      const body = summarize('disguise', {
        items: [
          { id: 'plain', text: longText('plain-control') },
          ...disguised.map((card, i) => ({
            id: `card-${i}`,
            text: `${longText(`hidden-card-${i}`)} Paid with card ${card}.`,
          })),
        ],
      });
      const submitted = await admin.request('POST', '/v1/batches', body);
      expect(submitted.status).toBe(202);
      await admin.waitFinished(submitted.json.id);
      const { json } = await admin.request('GET', `/v1/batches/${submitted.json.id}/items`);
      const [plain, ...cards] = json.items;
      // The control shows the cloud was the route a public item would take.
      expect(plain).toMatchObject({ sensitivity: 'public', route: { target: 'cloud' } });
      for (const card of cards) {
        expect(card).toMatchObject({
          sensitivity: 'confidential',
          pii: { declared: 'public', categories: ['card'], raised: true },
          route: { target: 'local' },
        });
      }
      const sent = sentBodies();
      expect(sent.some((b) => b.includes('plain-control'))).toBe(true);
      expect(sent.some((b) => b.includes('hidden-card-'))).toBe(false);
    });

    it('raises every item of a batch whose card number is only in task.instructions, and sends none to the cloud', async () => {
      const body = summarize('instr', {
        task: { type: 'summarize', instructions: 'Mention that the refund goes to card 4111-1111-1111-1111 (VISA).' },
        items: [
          { id: 'a', text: longText('instructed-a') },
          { id: 'b', text: longText('instructed-b') },
        ],
      });
      const submitted = await admin.request('POST', '/v1/batches', body);
      expect(submitted.status).toBe(202);
      await admin.waitFinished(submitted.json.id);
      const { json } = await admin.request('GET', `/v1/batches/${submitted.json.id}/items`);
      for (const item of json.items) {
        expect(item).toMatchObject({
          sensitivity: 'confidential',
          pii: { categories: ['card'], raised: true },
          route: { target: 'local' },
        });
      }
      const sent = sentBodies();
      expect(sent.some((b) => b.includes('instructed-') || b.includes('refund goes to card'))).toBe(false);
    });
  });

  describe('inputs that broke the service are refused, naming the field (issue 13 §4)', () => {
    it.each([
      ['a deadline 300000 years ahead', { deadline: 'P300000Y' }, 'deadline'],
      ['a duration past any calendar', { deadline: 'P99999999999999999999D' }, 'deadline'],
      ['a date that is not in the calendar', { deadline: '2030-02-30T00:00:00Z' }, 'deadline'],
      ['an extract schema that refers to itself', { task: { type: 'extract', schema: { $ref: '#' } } }, 'task.schema'],
      [
        'an extract schema with $dynamicRef',
        { task: { type: 'extract', schema: { $dynamicAnchor: 'n', properties: { k: { $dynamicRef: '#n' } } } } },
        'task.schema',
      ],
      [
        'a backtracking pattern',
        {
          task: {
            type: 'extract',
            schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } },
          },
        },
        'task.schema',
      ],
      ['a misspelled field', { sensitivty: 'restricted' }, 'sensitivty'],
      [
        'a per-item sensitivity this API does not have',
        { items: [{ id: 'x', text: 'hello', sensitivity: 'restricted' }] },
        'items[0].sensitivity',
      ],
    ])('%s', async (_, change, field) => {
      const before = sys.double.requests.length;
      const res = await admin.request('POST', '/v1/batches', { ...summarize('refused'), ...change });
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ statusCode: 400, error: 'Bad Request', field });
      expect(res.json.message).toMatch(new RegExp(`^${field.replace(/[[\]]/g, '\\$&')} `));
      expect(sys.double.requests.length).toBe(before);
    });

    it('keeps /health fast while the largest accepted schema compiles and a huge one is refused', async () => {
      // ~60 KiB, just under the 64 KiB limit: ajv takes seconds to compile it on this machine.
      const properties = Object.fromEntries(
        Array.from({ length: 900 }, (_, i) => [`field_${i}`, { type: 'string', description: `field number ${i}` }]),
      );
      const largest = { type: 'object', properties, required: ['field_0'] };
      expect(JSON.stringify(largest).length).toBeGreaterThan(50_000);
      expect(JSON.stringify(largest).length).toBeLessThan(64 * 1024);
      const huge = {
        type: 'object',
        properties: Object.fromEntries(
          Array.from({ length: 10_000 }, (_, i) => [`p${i}`, { type: 'string', description: 'x' }]),
        ),
      };
      const extract = (schema: object) => ({
        ...summarize('schema'),
        deadline: 'P1D',
        task: { type: 'extract', schema },
      });

      let polling = true;
      const healthMs: number[] = [];
      const poll = (async () => {
        while (polling) {
          const started = Date.now();
          expect((await admin.request('GET', '/health')).status).toBe(200);
          healthMs.push(Date.now() - started);
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      // The quote runs the same intake checks without queuing 900 fields of work for the tiny local model.
      const [accepted, refused] = await Promise.all([
        admin.request('POST', '/v1/batches/quote', extract(largest)),
        admin.request('POST', '/v1/batches', extract(huge)),
      ]);
      polling = false;
      await poll;
      expect(accepted.status).toBe(200);
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({ field: 'task.schema', message: expect.stringMatching(/bytes as JSON/) });
      console.log(
        JSON.stringify({
          figure: '/health while schemas compile',
          polls: healthMs.length,
          maxMs: Math.max(...healthMs),
          limitMs: 500,
        }),
      );
      expect(healthMs.length).toBeGreaterThan(3);
      expect(Math.max(...healthMs)).toBeLessThan(500);
    });

    it('fails an item once, with the reason, when its checker throws, and never pays for a second call', async () => {
      // A record from before intake refused recursive schemas: written by hand, as the old intake stored it.
      const { store, jobs } = sys.internals();
      sys.double.setResponder(() => '{"answer": 1}');
      try {
        const route = {
          target: 'cloud' as const,
          provider: 'frontier',
          model: 'double-model',
          reason: 'as stored before the fix',
          at: new Date().toISOString(),
        };
        const task = { type: 'extract' as const, schema: { $ref: '#' } };
        const { id } = await store.create(
          {
            kind: 'document-processing',
            sensitivity: 'public',
            deadlineAt: Date.now() + 60_000,
            task,
            createdAt: Date.now(),
          },
          [
            {
              itemId: 'recursive-0',
              route,
              workTokens: 10,
              sensitivity: 'public',
              pii: { declared: 'public', categories: [], raised: false },
            },
          ],
        );
        const job: JobSpec = {
          name: JobName.RunItem,
          jobId: itemJobId(id, 0),
          data: {
            batchId: id,
            index: 0,
            itemId: 'recursive-0',
            kind: 'document-processing',
            sensitivity: 'public',
            deadline: Date.now() + 60_000,
            input: 'recursive-marker invoice 12',
          },
        };
        await jobs.enqueue(queueRefFor('cloud', 'frontier'), [job]);
        const batch = await admin.waitFinished(id, 30_000);
        expect(batch.counts).toMatchObject({ total: 1, failed: 1 });
        const { json } = await admin.request('GET', `/v1/batches/${id}/items`);
        expect(json.items[0].error).toMatch(/schema could not check the answer: RangeError/);
        expect(sentBodies().filter((b) => b.includes('recursive-marker'))).toHaveLength(1);
      } finally {
        sys.double.setResponder(null);
      }
    });
  });

  describe('a body is read only for a valid key (issue 13 §7)', () => {
    it('answers 401, not 413, to an 11 MiB body without a key; with the key the size limit still holds', async () => {
      const big = JSON.stringify({ ...summarize('big'), items: [{ id: 'big', text: 'x'.repeat(11 * 1024 * 1024) }] });
      const anonymous = await admin.withKey(undefined).request('POST', '/v1/batches', big);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      expect((await admin.withKey('sy_not-a-key').request('POST', '/v1/batches', big)).status).toBe(401);
      expect((await admin.request('POST', '/v1/batches', big)).status).toBe(413);
    });

    it('refuses a body nested deeper than 100 levels before parsing it: the byte where it went too deep', async () => {
      // 8 MB of brackets: JSON.parse would hold the API for seconds before any check on the value could run.
      const deep = `${'['.repeat(4_000_000)}${']'.repeat(4_000_000)}`;
      const res = await admin.request('POST', '/v1/batches', deep);
      expect([res.status, res.json?.field]).toEqual([400, 'body']);
      expect(res.json.message).toBe('body nests deeper than 100 levels (at byte 100)');
      // Inside an item, in another charset body-parser takes (UTF-16): refused the same way.
      const nested = JSON.stringify({
        ...summarize('deep'),
        items: [{ id: 'x', text: 't', extra: JSON.parse(`${'['.repeat(150)}${']'.repeat(150)}`) }],
      });
      const utf16 = await fetch(`${sys.url}/v1/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-16le', authorization: `Bearer ${ADMIN_KEY}` },
        body: Buffer.from(nested, 'utf16le'),
      });
      expect(utf16.status).toBe(400);
      expect(await utf16.json()).toMatchObject({
        field: 'body',
        message: expect.stringMatching(/^body nests deeper than 100 levels/),
      });
    });
  });

  describe('an Idempotency-Key names one body (issue 12 §6)', () => {
    it('returns the same batch for the same body, in any key order, and 422 naming the header for another body', async () => {
      const headers = { 'idempotency-key': `hardening-${Date.now()}` };
      const body = { ...summarize('idem'), deadline: 'P1D', sensitivity: 'internal' };
      const first = await admin.request('POST', '/v1/batches', body, headers);
      expect(first.status).toBe(202);
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      const again = await admin.request('POST', '/v1/batches', reordered, headers);
      expect(again.status).toBe(202);
      expect(again.json.id).toBe(first.json.id);
      const other = await admin.request(
        'POST',
        '/v1/batches',
        { ...body, items: [{ id: 'other', text: 'another document' }] },
        headers,
      );
      expect(other.status).toBe(422);
      expect(other.json).toMatchObject({
        statusCode: 422,
        field: 'Idempotency-Key',
        message: expect.stringMatching(/^Idempotency-Key was already used with a different body/),
      });
      await admin.waitFinished(first.json.id);
    });
  });
});

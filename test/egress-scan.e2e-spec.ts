import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { useSystem } from './support/use-system.js';

const CARD = '4111 1111 1111 1111';

/**
 * Clearance is enforced twice: by the routing policy at intake, and by the provider before a request leaves. The
 * second check used to read only the item's marking, carried in its job from the API, so whatever the marking missed
 * left with it. Here the API runs with card numbers not looked for (PII_RULES: an operator who has since switched
 * them on, or a marking lost on the way) and marks a document holding one public; the worker, with the rules as
 * they are now, reads the request it is about to send, refuses it for the cloud cleared only for internal data,
 * and the item runs locally instead. Nothing of it leaves.
 */
describe('the clearance check reads what leaves', () => {
  const sys = useSystem(
    async ({ double }) => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      LOCAL_MODEL_NAME: 'tiny',
      // The cloud far cheaper: what the API marks public goes there.
      LOCAL_PRICE_INPUT_PER_M: '5',
      LOCAL_PRICE_OUTPUT_PER_M: '50',
      CLOUD_PRICE_INPUT_PER_M: '0.01',
      CLOUD_PRICE_OUTPUT_PER_M: '0.01',
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_MAX_SENSITIVITY: 'internal',
      MAX_OUTPUT_TOKENS: '32',
      PII_RULES: '{"card": false}',
    }),
    { double: { apiKey: 'test-key' }, workers: 0, waitFor: 'listening' },
  );

  it('a public-marked document holding a card number is refused at egress, audited, and runs locally; the double never sees it', async () => {
    sys.startWorker({ PII_RULES: '' });
    await sys.client.waitReady();
    const { status, json } = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline: 'P1D',
      task: { type: 'summarize', maxTokens: 16 },
      items: [
        { id: 'invoice', text: `Paid with card ${CARD} on Monday.` },
        { id: 'memo', text: 'The board met on Monday.' },
      ],
    });
    expect(status).toBe(202);
    const batch = await sys.client.waitFinished(json.id, 60_000);
    expect(batch.status).toBe('completed');

    const items = (await sys.client.request('GET', `/v1/batches/${json.id}/items`)).json.items;
    const invoice = items.find((i: any) => i.id === 'invoice');
    // Marked public by the API (cards not looked for there), routed to the cloud, refused by the worker's scan.
    expect(invoice.sensitivity).toBe('public');
    expect(invoice.routeHistory.map((r: any) => r.target)).toEqual(['cloud', 'local']);
    expect(invoice.routeHistory[1].reason).toMatch(/refuses a request holding card, which makes it "confidential"/);
    expect(items.find((i: any) => i.id === 'memo').routeHistory.map((r: any) => r.target)).toEqual(['cloud']);

    expect(sys.double.completionRequests().some((r) => JSON.stringify(r.body).includes('4111'))).toBe(false);
    expect(sys.double.completionRequests()).toHaveLength(1);
    const audit = (await sys.client.request('GET', `/v1/audit?batchId=${json.id}&limit=100`)).json.entries;
    expect(audit.filter((e: any) => e.kind === 'egress-refused')).toEqual([
      expect.objectContaining({ provider: 'frontier', clearance: 'internal', sensitivity: 'confidential' }),
    ]);
    // The move carries what the item was found to be.
    expect(audit.filter((e: any) => e.kind === 'reroute')).toEqual([
      expect.objectContaining({ index: 0, target: 'local', sensitivity: 'confidential' }),
    ]);
    expect(JSON.stringify(audit)).not.toContain('4111');
  });
});

import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { useSystem } from './support/use-system.js';

/**
 * Issue 17 §2: a year of nightly jobs must not fill Redis. With RESULT_TTL the worker's retention sweep (a Job
 * Scheduler) deletes a batch once it finished that long ago — its record, its items, its event stream and its
 * index entries — and keeps a batch that is still running, whatever its age.
 */
describe('results retention (RESULT_TTL)', () => {
  const sys = useSystem(
    async ({ double }) => ({
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_PROVIDER_NAME: 'frontier',
      CLOUD_MAX_SENSITIVITY: 'internal',
      // A free endpoint: every item goes to the double, whose answers the tests slow down at will.
      CLOUD_PRICE_INPUT_PER_M: '0',
      CLOUD_PRICE_OUTPUT_PER_M: '0',
      RESULT_TTL: '2s',
      RETENTION_SWEEP_MS: '1000',
    }),
    { double: { apiKey: 'test-key' } },
  );

  const submit = async (deadline: string) => {
    const { status, json } = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'public',
      deadline,
      task: { type: 'summarize', maxTokens: 8 },
      items: [
        { id: 'a', text: 'Quarterly figures, region by region. '.repeat(10) },
        { id: 'b', text: 'Minutes of the works council. '.repeat(10) },
      ],
    });
    expect(status).toBe(202);
    return json.id as string;
  };

  it('deletes a finished batch once RESULT_TTL has passed since it finished, every record of it', async () => {
    const id = await submit('PT10M');
    const finished = await sys.client.waitFinished(id);
    expect(finished.status).toBe('completed');
    const { redis } = sys.internals();
    const ownKeys = () => redis.keys(`*{${id}}*`);
    expect((await ownKeys()).length).toBeGreaterThan(0);

    // The sweep runs every second and deletes it once it finished 2 s ago: wait for the 404, a bounded while.
    const until = Date.now() + 30_000;
    let status = 200;
    while (status !== 404 && Date.now() < until) {
      await sleep(250);
      ({ status } = await sys.client.request('GET', `/v1/batches/${id}`));
    }
    expect(status).toBe(404);
    expect(Date.parse(finished.finishedAt) + 2000).toBeLessThanOrEqual(Date.now());
    expect(await ownKeys()).toEqual([]);
    const { json: listed } = await sys.client.request('GET', '/v1/batches?limit=100');
    expect(JSON.stringify(listed)).not.toContain(id);
  });

  it('keeps a batch that has not finished, past the TTL since it was created and several sweeps later', async () => {
    const { redis } = sys.internals();
    // Answers now take 8 s: the batch stays running well past RESULT_TTL and four sweeps.
    sys.double.setLatency(8000);
    try {
      const id = await submit('PT10M');
      await sleep(4500);
      const { status, json } = await sys.client.request('GET', `/v1/batches/${id}`);
      expect(status).toBe(200);
      expect(json.status).not.toBe('completed');
      expect((await redis.keys(`*{${id}}*`)).length).toBeGreaterThan(0);
      expect((await sys.client.waitFinished(id)).status).toBe('completed');
    } finally {
      sys.double.setLatency(0);
    }
  });
});

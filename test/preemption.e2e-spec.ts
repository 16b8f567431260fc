import { describe, expect, it } from '@jest/globals';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/**
 * Preemption on a real worker (libs/routing preemption.ts): a pool of one sequence busy with work due tomorrow
 * gives that sequence to an item due in minutes, instead of making it wait (or routing sending it to the cloud).
 */
const BOARD_MINUTES = 'Minutes of the board meeting. '.repeat(30);

describe('local preemption', () => {
  const sys = useSystem(async () => ({
    LOCAL_MODEL_PATH: await ensureGeneratedModel('small'),
    LOCAL_MODEL_NAME: 'small',
    LOCAL_SEQUENCES: '1',
    LOCAL_TOKENS_PER_SEC: '200',
    MAX_OUTPUT_TOKENS: '512',
    LOCAL_CONTEXT_SIZE: '2048',
    LOCAL_PREEMPT_CHECK_MS: '100',
  }));

  const submit = async (deadline: string, ids: string[], maxTokens: number): Promise<string> => {
    const { status, json } = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline,
      task: { type: 'summarize', maxTokens },
      items: ids.map((id) => ({ id, text: id + '. ' + BOARD_MINUTES })),
    });
    expect(status).toBe(202);
    return json.id;
  };
  const items = async (batchId: string): Promise<any[]> =>
    (await sys.client.request('GET', `/v1/batches/${batchId}/items?limit=100`)).json.items;

  it("runs an item due in minutes at once on a sequence busy with tomorrow's work, which runs again and completes once", async () => {
    const total = 4;
    const lax = await submit(
      'P1D',
      Array.from({ length: total }, (_, i) => `tomorrow-${i}`),
      512,
    );
    // An urgent item sent just as a lax one starts finds the only sequence busy for seconds. A lax answer that
    // ends early (the random model's end token) frees the sequence without a preemption: the next round tries
    // again with the next lax item, as worker-crash.e2e-spec repeats a kill that caught nothing.
    const seenRunning = new Set<string>();
    let urgent: any;
    let preempted: any;
    for (let round = 1; !preempted; round++) {
      let started: any;
      while (!started) {
        started = (await items(lax)).find((i) => i.status === 'running' && !seenRunning.has(i.id));
        if (!started) await sleep(10);
      }
      seenRunning.add(started.id);
      const urgentId = await submit('PT20M', [`urgent-${round}`], 16);
      urgent = await sys.client.waitFinished(urgentId, 60_000);
      expect(urgent.status).toBe('completed');
      const now = (await items(lax)).find((i) => i.id === started.id);
      if (now.attempts >= 2 || now.status === 'queued') preempted = now;
      else if (round === total - 1) throw new Error(`${round} urgent items found no lax item to preempt`);
    }

    const batch = await sys.client.waitFinished(lax, 120_000);
    expect(batch.status).toBe('completed');
    expect(batch.counts).toMatchObject({ total, completed: total, failed: 0 });
    const done = await items(lax);
    // Exactly once: the totals are one result per item, the preempted run's stopped call charged nothing.
    expect(batch.usage.outputTokens).toBe(done.reduce((s, i) => s + i.usage.outputTokens, 0));
    const again = done.find((i) => i.id === preempted.id);
    expect(again.attempts).toBeGreaterThanOrEqual(2);
    expect(again.route).toMatchObject({ target: 'local', provider: 'small' });
    // The urgent item finished before the one it displaced, which ran again from the start after it.
    expect(Date.parse(urgent.finishedAt)).toBeLessThan(Date.parse(again.finishedAt));
    const log = sys.workers[0].output.join('');
    expect(log).toContain('item preempted by one due sooner');
    expect(log).not.toContain('Minutes of the board meeting');
  });
});

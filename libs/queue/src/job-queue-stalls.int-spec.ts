import { afterAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { QueueTuning } from '#libs/config';
import { bullPrefix } from './bull-prefix.js';
import { JobQueue } from './job-queue.js';
import { JobName, queueName, queueRefFor } from './queue-names.js';

/**
 * BullMQ 6 fails a job whose workers died under it more than maxStalledCount times without running it: the stalled
 * check marks it, and the next worker to take it fails it at once. Nothing of the processor runs, so nothing it
 * records about the job's item happens either: the consumer is told (ConsumeOptions.onFailed), on real BullMQ.
 */
const tuning: QueueTuning = {
  lockDurationMs: 1000,
  stalledIntervalMs: 300,
  maxStalledCount: 0,
  attempts: 3,
  backoffMs: 10,
};
const ref = queueRefFor('cloud', 'stalling');

describe('JobQueue: a job failed by the stall limit (real Redis)', () => {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const url = process.env.REDIS_URL!;
  const opened: Queue[] = [];
  const layer = () => {
    const bull = new Queue(queueName(ref), { connection: { url }, prefix: bullPrefix(prefix) });
    opened.push(bull);
    return new JobQueue(new Map([[queueName(ref), bull]]), { url }, prefix, tuning);
  };
  const layers: JobQueue[] = [];

  afterAll(async () => {
    await Promise.all(layers.map((l) => l.closeConsumers(1000)));
    await opened[0]?.obliterate({ force: true });
    await Promise.all(opened.map((q) => q.close()));
  });

  it('tells the next consumer the job failed for good, and why, without running it', async () => {
    const crashed = layer();
    layers.push(crashed);
    let taken = false;
    // A worker that dies mid-item: its handler never returns, and its connections drop.
    const dying = crashed.consume(
      ref,
      () => {
        taken = true;
        return new Promise(() => undefined);
      },
      { concurrency: 1 },
    );
    await crashed.enqueue(ref, [
      {
        name: JobName.RunItem,
        jobId: 'b.0',
        data: {
          batchId: 'b',
          index: 0,
          itemId: 'i',
          kind: 'document-processing',
          sensitivity: 'internal',
          deadline: Date.now() + 60_000,
          input: 'x',
        },
      },
    ]);
    for (let waited = 0; !taken; waited += 20) {
      if (waited > 10_000) throw new Error('the job was never taken');
      await new Promise((r) => setTimeout(r, 20));
    }
    await dying.close(0);

    const next = layer();
    layers.push(next);
    const ran: string[] = [];
    const failed: Array<{ id: string; reason: string }> = [];
    next.consume(
      ref,
      async (job) => {
        ran.push(job.id);
        return {};
      },
      { concurrency: 1, onFailed: async (job, reason) => void failed.push({ id: job.id, reason }) },
    );
    for (let waited = 0; failed.length === 0; waited += 50) {
      if (waited > 15_000) throw new Error('the stalled job was never failed');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(failed).toEqual([{ id: 'b.0', reason: expect.stringMatching(/stalled more than allowable limit/) }]);
    expect(ran).toEqual([]);
    expect((await next.depth(ref)).failed).toBe(1);
  });
});

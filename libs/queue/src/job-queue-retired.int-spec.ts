import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { QueueTuning } from '#libs/config';
import type { WorkItem } from '#libs/domain';
import { bullPrefix } from './bull-prefix.js';
import { JobQueue } from './job-queue.js';
import { MAINTENANCE_QUEUE, QueueKind, queueName, queueRefFor, type QueueRef } from './queue-names.js';

const tuning: QueueTuning = {
  lockDurationMs: 5000,
  stalledIntervalMs: 1000,
  maxStalledCount: 1,
  attempts: 2,
  backoffMs: 10,
};
const item = (index: number): WorkItem => ({
  batchId: 'b',
  index,
  itemId: `i${index}`,
  kind: 'document-processing',
  sensitivity: 'internal',
  deadline: 0,
  input: 'x',
});

/**
 * Queues of providers a deployment no longer configures, on real Redis: found by scanning BullMQ's keys under this
 * deployment's prefix only, readable and emptied through the queue layer, never added to.
 */
describe('JobQueue, retired queues', () => {
  const url = process.env.REDIS_URL!;
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const configured = queueRefFor('local', 'new');
  const old = queueRefFor('local', 'old');
  const gone = queueRefFor('cloud', 'gone');
  const raw: Queue[] = [];
  const open = (ref: QueueRef, p = prefix) => {
    const q = new Queue(queueName(ref), { connection: { url }, prefix: bullPrefix(p) });
    raw.push(q);
    return q;
  };
  let jobs: JobQueue;

  beforeAll(async () => {
    jobs = new JobQueue(new Map([[queueName(configured), open(configured)]]), { url }, prefix, tuning);
    // What an earlier config left: a local model's queue with a waiting and a parked job, a cloud provider's.
    await open(old).add('run-item', item(0), { jobId: 'b.0', priority: 3 });
    await open(old).add('run-item', item(1), { jobId: 'b.1', delay: 60_000 });
    await open(gone).add('run-item', item(2), { jobId: 'b.2' });
    // Not inference work, and another deployment's queue on the same Redis: neither is this one's to move.
    await open(MAINTENANCE_QUEUE).add('escalation-sweep', {});
    await open(queueRefFor('local', 'theirs'), `${prefix}-other`).add('run-item', item(3), { jobId: 'b.3' });
    await open(configured).add('run-item', item(4), { jobId: 'b.4' });
  });

  afterAll(async () => {
    await jobs.closeConsumers(2000);
    // Each queue closed whatever its obliterate did (two handles on one queue: the second finds it gone).
    await Promise.all(
      raw.map((q) =>
        q
          .obliterate({ force: true })
          .catch(() => undefined)
          .then(() => q.close()),
      ),
    );
  });

  it('lists the inference queues under its prefix that no configured provider owns', async () => {
    const found = await jobs.retiredQueues();
    expect(found.sort((a, b) => a.provider.localeCompare(b.provider))).toEqual([
      { kind: QueueKind.CloudInference, provider: 'gone' },
      { kind: QueueKind.LocalInference, provider: 'old' },
    ]);
  });

  it('reads their waiting jobs, the parked ones with `delayed`, and removes them; it adds none there', async () => {
    expect((await jobs.waiting(old, 10)).map((j) => j.id)).toEqual(['b.0']);
    expect((await jobs.waiting(old, 10, { delayed: true })).map((j) => j.id)).toEqual(['b.0', 'b.1']);
    expect(await jobs.removeWaiting(old, 'b.1')).toBe(true);
    expect((await jobs.waiting(old, 10, { delayed: true })).map((j) => j.id)).toEqual(['b.0']);
    await expect(
      jobs.enqueue(old, [{ name: 'run-item' as never, data: item(5) as never, jobId: 'b.5' }]),
    ).rejects.toThrow(/provider "old" is not configured/);
  });
});

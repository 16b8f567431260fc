import { beforeEach, describe, expect, it } from '@jest/globals';
import type { BatchView } from '#libs/domain';
import { metricsRegistry, resetMetrics } from '#libs/metrics';
import { measureBatchFinishes } from './batch-finish-metrics.js';

/** A store that finishes batches on demand and answers `get` with `view`. */
function storeWith(view: Partial<BatchView> | null | Error) {
  let listener: ((batchId: string) => void) | undefined;
  let read: Promise<unknown> = Promise.resolve();
  return {
    onBatchFinished: (l: (batchId: string) => void) => void (listener = l),
    get: (_id: string) => {
      read = view instanceof Error ? Promise.reject(view) : Promise.resolve(view as BatchView | null);
      return read as Promise<BatchView | null>;
    },
    /** Finishes `batchId` and waits for the listener's read to settle. */
    finish: async (batchId: string) => {
      listener!(batchId);
      await read.catch(() => undefined);
      await new Promise((r) => setImmediate(r));
    },
  };
}

async function value(name: string, status: string): Promise<number | undefined> {
  return (await metricsRegistry.getSingleMetric(name)?.get())?.values.find(
    (v) => v.labels.status === status && !('le' in v.labels),
  )?.value;
}

describe('measureBatchFinishes', () => {
  beforeEach(() => resetMetrics());

  it('measures a finished batch by status, and counts it late when it finished after its deadline', async () => {
    const store = storeWith({
      status: 'completed',
      createdAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:01:30.000Z',
      deadline: '2026-01-01T00:01:00.000Z',
    });
    measureBatchFinishes(store, () => undefined);
    await store.finish('b1');
    expect(await value('switchyard_batches_finished_total', 'completed')).toBe(1);
    expect(await value('switchyard_batch_deadline_missed_total', 'completed')).toBe(1);
    const duration = await metricsRegistry.getSingleMetricAsString('switchyard_batch_duration_seconds');
    expect(duration).toContain('switchyard_batch_duration_seconds_sum{status="completed"} 90');
  });

  it('says so, and measures nothing, when the batch cannot be read', async () => {
    const store = storeWith(new Error('redis down'));
    const errors: string[] = [];
    measureBatchFinishes(store, (batchId) => errors.push(batchId));
    await store.finish('b2');
    expect(errors).toEqual(['b2']);
    expect(await value('switchyard_batches_finished_total', 'completed')).toBeUndefined();
  });
});

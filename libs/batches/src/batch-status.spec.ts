import { describe, expect, it } from '@jest/globals';
import { batchStatus } from './batch-status.js';

const counts = (c: Partial<Record<'queued' | 'running' | 'completed' | 'failed' | 'cancelled', number>>) => {
  const full = { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0, ...c };
  return { ...full, total: full.queued + full.running + full.completed + full.failed + full.cancelled };
};

describe('batchStatus', () => {
  it.each([
    [counts({ queued: 3 }), 'queued'],
    [counts({ queued: 2, running: 1 }), 'running'],
    [counts({ queued: 2, completed: 1 }), 'running'],
    [counts({ completed: 3 }), 'completed'],
    [counts({ completed: 2, failed: 1 }), 'partial'],
    [counts({ completed: 2, cancelled: 1 }), 'partial'],
    [counts({ failed: 3 }), 'failed'],
    [counts({ cancelled: 3 }), 'cancelled'],
    [counts({ failed: 1, cancelled: 2 }), 'failed'],
  ])('%j is %s', (c, status) => {
    expect(batchStatus(c)).toBe(status);
  });
});

import { describe, expect, it } from '@jest/globals';
import { progressLine } from './batch-progress.js';

describe('progressLine', () => {
  it('fills the bar by the finished share and names what is not zero', () => {
    const line = progressLine(
      {
        id: 'b',
        status: 'running',
        counts: { total: 4, queued: 1, running: 1, completed: 1, failed: 1, cancelled: 0 },
        routes: { local: 3, cloud: 1 },
        cost: { usd: 0.00123 },
      },
      8,
    );
    expect(line).toBe('[####----] 2/4  completed 1  failed 1  running 1  queued 1  local 3 · cloud 1  $0.0012');
  });

  it('is full for a finished batch', () => {
    const counts = { total: 2, queued: 0, running: 0, completed: 2, failed: 0, cancelled: 0 };
    expect(progressLine({ id: 'b', status: 'completed', counts }, 4)).toMatch(/^\[####\] 2\/2/);
  });
});

import { describe, expect, it } from '@jest/globals';
import { shutdownPlan } from './shutdown-deadline.js';

describe('shutdownPlan', () => {
  it('drains, then exits, then a supervisor kills, all inside SHUTDOWN_TIMEOUT_MS', () => {
    expect(shutdownPlan(10_000)).toEqual({ drainMs: 8000, exitMs: 9000, killMs: 9500 });
    expect(shutdownPlan(2000)).toEqual({ drainMs: 1600, exitMs: 1800, killMs: 1900 });
    for (const t of [0, 1, 50, 4000, 60_000]) {
      const p = shutdownPlan(t);
      expect(0 <= p.drainMs && p.drainMs <= p.exitMs && p.exitMs <= p.killMs && p.killMs <= t).toBe(true);
    }
  });
});

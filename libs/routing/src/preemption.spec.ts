import { describe, expect, it } from '@jest/globals';
import { DEFAULT_PREEMPT_SLACK_MS, preemptible, preemptionVictim } from './preemption.js';

const NOW = 1_000_000_000;
const MIN = 60_000;

describe('preemption', () => {
  it('lets running work give way only when its deadline is at least the slack away, and never when off', () => {
    expect(preemptible(NOW + 30 * MIN, NOW, 30 * MIN)).toBe(true);
    expect(preemptible(NOW + 30 * MIN - 1, NOW, 30 * MIN)).toBe(false);
    expect(preemptible(NOW + 365 * 24 * 60 * MIN, NOW, null)).toBe(false);
    expect(DEFAULT_PREEMPT_SLACK_MS).toBe(30 * MIN);
  });

  it('stops, of the items due after the next one and far enough off, the one that started last', () => {
    const running = [
      { id: 'day-old', deadline: NOW + 1440 * MIN, startedAt: NOW - 50_000 },
      { id: 'day-new', deadline: NOW + 1440 * MIN, startedAt: NOW - 2_000 },
      { id: 'hour-newest', deadline: NOW + 60 * MIN, startedAt: NOW - 1_000 },
      { id: 'soon', deadline: NOW + 10 * MIN, startedAt: NOW - 100 },
    ];
    // The least work is lost: the newest run among those that may give way (due in 10 min is too close).
    expect(preemptionVictim(running, { deadline: NOW + 5 * MIN }, NOW, 30 * MIN)?.id).toBe('hour-newest');
    // Only work due after the next item gives way to it: an item due in 2 h preempts only the day's work.
    expect(preemptionVictim(running, { deadline: NOW + 120 * MIN }, NOW, 30 * MIN)?.id).toBe('day-new');
    // Nothing due later than it, or nothing far enough off: no victim.
    expect(preemptionVictim(running, { deadline: NOW + 2000 * MIN }, NOW, 30 * MIN)).toBeNull();
    expect(preemptionVictim(running.slice(3), { deadline: NOW + MIN }, NOW, 30 * MIN)).toBeNull();
    expect(preemptionVictim(running, { deadline: NOW + MIN }, NOW, null)).toBeNull();
  });

  it('breaks a tie between runs started together by stopping the one due last', () => {
    const running = [
      { id: 'a', deadline: NOW + 100 * MIN, startedAt: NOW },
      { id: 'b', deadline: NOW + 200 * MIN, startedAt: NOW },
    ];
    expect(preemptionVictim(running, { deadline: NOW + MIN }, NOW, 30 * MIN)?.id).toBe('b');
  });
});

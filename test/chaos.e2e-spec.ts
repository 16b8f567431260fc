import { describe, expect, it } from '@jest/globals';
import { runChaos } from '../bench/chaos/chaos-run.js';

/**
 * `npm run test:chaos -- --quick`, as a test: the real processes (own Redis with AOF, API, two workers,
 * two OpenAI doubles) through every phase — workers SIGKILLed mid-batch, Redis SIGKILLed and restarted,
 * cloud outages (5xx, 429, hangs), API fuzz, randomized workloads with faults — and then the counts.
 * A fixed seed, so a failure here replays with `npm run test:chaos -- --quick --seed=20261123`.
 */
describe('chaos (quick)', () => {
  it('loses nothing accepted, completes and charges each item once, leaks nothing above clearance, never answers 5xx', async () => {
    const lines: string[] = [];
    const report = await runChaos('quick', 20261123, (line) => lines.push(line));
    const failed = report.phases.filter((p) => !p.ok).map((p) => `${p.phase}: ${p.problems.join('; ')}`);
    expect(failed).toEqual([]);
    expect({ lost: report.summary.lost, duplicated: report.summary.duplicated, leaked: report.summary.leaked }).toEqual({ lost: 0, duplicated: 0, leaked: 0 });
    // Every phase did its damage: the zeros above are not from a run where nothing happened.
    expect(report.summary.kills).toBeGreaterThanOrEqual(2);
    expect(report.summary.redisRestarts).toBeGreaterThanOrEqual(1);
    expect(report.summary.outages).toBeGreaterThanOrEqual(3);
    expect(report.summary.fuzzed).toBeGreaterThanOrEqual(80);
    expect(report.outcome.completed).toBe(report.summary.items - report.outcome.failed);
    expect(report.cloudRequests.frontier).toBeGreaterThan(0);
    expect(report.cloudRequests.sovereign).toBeGreaterThan(0);
  }, 240_000);
});

import { describe, expect, it } from '@jest/globals';
import { EdfSequences, edfOrder, edfPlacement } from './edf-schedule.js';
import type { ProviderView, QueuedWork } from './routing-policy.js';

const NOW = 1_700_000_000_000;
const pool: ProviderView = {
  target: 'local',
  name: 'local',
  model: 'llama',
  clearance: 'restricted',
  price: { inputPerMTokUsd: 0.01, outputPerMTokUsd: 0.03 },
  tokensPerSec: 10,
  concurrency: 2,
  backlogTokens: 0,
  latencyMs: 0,
};

describe('EDF schedule of a local pool', () => {
  it('orders running work first, then by deadline, first come first among equals', () => {
    const q: QueuedWork[] = [
      { deadline: NOW + 300, workTokens: 1 },
      { deadline: NOW + 100, workTokens: 2 },
      { deadline: NOW + 900, workTokens: 3, running: true },
      { deadline: NOW + 100, workTokens: 4 },
    ];
    expect(edfOrder(q).map((w) => w.workTokens)).toEqual([3, 2, 4, 1]);
  });

  it('puts each item on the first sequence to free up', () => {
    const seqs = new EdfSequences(pool, NOW);
    expect(seqs.run({ deadline: 0, workTokens: 100, running: true })).toBe(NOW + 10_000); // sequence 1 busy 10 s
    expect(seqs.finishIf({ deadline: 0, workTokens: 20 })).toBe(NOW + 2000); // sequence 2 is free
    expect(seqs.run({ deadline: 0, workTokens: 20 })).toBe(NOW + 2000);
    expect(seqs.run({ deadline: 0, workTokens: 20 })).toBe(NOW + 4000);
  });

  it('finishes the tail of a batch when its sequence frees, not after all work ahead drains and then some', () => {
    // Two sequences, three 10 s items ahead: the fourth starts at 10 s (not 15 s) and ends at 20 s.
    const ahead = Array.from({ length: 3 }, () => ({ deadline: NOW + 60_000, workTokens: 100 }));
    const p = edfPlacement(pool, ahead, NOW, { deadline: NOW + 60_000, workTokens: 100 }, 0);
    expect(p.finishAt).toBe(NOW + 20_000);
    expect(p.displaced).toEqual([]);
  });

  it('names the queued work a new item would push past its deadline, and only that', () => {
    const q: QueuedWork[] = [
      { deadline: NOW + 12_000, workTokens: 100 }, // 10 s of work due at 12 s: late if it starts after 2 s
      { deadline: NOW + 12_000, workTokens: 100 },
      { deadline: NOW + 3_600_000, workTokens: 100 }, // due in an hour: fine either way
    ];
    const p = edfPlacement(pool, q, NOW, { deadline: NOW + 5000, workTokens: 30 }, 0);
    expect(p.finishAt).toBe(NOW + 3000);
    expect(p.displaced).toEqual([q[1]]);
  });

  it('leaves out of both schedules the late work the watchdog will move, so it delays nothing behind it', () => {
    const q: QueuedWork[] = [
      { deadline: NOW + 12_000, workTokens: 100 },
      { deadline: NOW + 12_000, workTokens: 100 },
      { deadline: NOW + 12_000, workTokens: 100 }, // starts at 10 s at best: late already
      { deadline: NOW + 16_000, workTokens: 50 },
    ];
    const item = { deadline: NOW + 5000, workTokens: 30 };
    // Movable: the late one and the one the new item pushes late go to the cloud; the last still fits.
    expect(edfPlacement(pool, q, NOW, item, 0, () => true).displaced).toEqual([q[1]]);
    // Work that cannot move stays and runs late, and the last one is pushed late behind it.
    expect(edfPlacement(pool, q, NOW, item, 0, () => false).displaced).toEqual([q[1], q[3]]);
  });
});

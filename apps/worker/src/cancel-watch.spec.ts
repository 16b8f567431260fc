import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelWatches } from './cancel-watch.js';

/** A store whose batches are cancelled on demand, counting the polls per batch. */
function store() {
  const cancelled = new Set<string>();
  const polls = new Map<string, number>();
  return {
    cancelled,
    polls,
    isCancelRequested: async (batchId: string) => {
      polls.set(batchId, (polls.get(batchId) ?? 0) + 1);
      return cancelled.has(batchId);
    },
  };
}

/** Waits until `cond` holds, or fails after `ms`: timers on a busy machine fire late, never early. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(5)) if (Date.now() > end) throw new Error('timed out');
}

describe('CancelWatches', () => {
  it("polls once per interval per batch however many of its calls run, and aborts them all on the batch's cancel", async () => {
    const s = store();
    const watches = new CancelWatches(s, 10);
    const calls = Array.from({ length: 20 }, () => watches.watch('b1'));
    const other = watches.watch('b2');
    expect(watches.watching).toBe(2);
    await sleep(55);
    // About five polls of each batch, not a hundred of b1.
    expect(s.polls.get('b1')).toBeLessThanOrEqual(6);
    s.cancelled.add('b1');
    await until(() => calls[0].signal.aborted);
    expect(calls.every((c) => c.signal.aborted)).toBe(true);
    expect(String(calls[0].signal.reason)).toContain('batch cancelled');
    expect(other.signal.aborted).toBe(false);
    for (const c of [...calls, other]) c.stop();
  });

  it("stops polling with the batch's last call; a later call starts afresh", async () => {
    const s = store();
    const watches = new CancelWatches(s, 10);
    const first = watches.watch('b1');
    const second = watches.watch('b1');
    first.stop();
    first.stop(); // twice is once
    expect(watches.watching).toBe(1);
    second.stop();
    expect(watches.watching).toBe(0);
    const polled = s.polls.get('b1') ?? 0;
    await sleep(40);
    expect(s.polls.get('b1') ?? 0).toBe(polled);
    const later = watches.watch('b1');
    expect(later.signal.aborted).toBe(false);
    expect(watches.watching).toBe(1);
    later.stop();
  });

  it('a poll that fails (a Redis blip) is tried again at the next interval', async () => {
    let failing = true;
    let polls = 0;
    const watches = new CancelWatches(
      {
        isCancelRequested: async () => {
          polls += 1;
          if (failing) throw new Error('connection lost');
          return true;
        },
      },
      10,
    );
    const call = watches.watch('b1');
    await until(() => polls >= 2);
    expect(call.signal.aborted).toBe(false);
    failing = false;
    await until(() => call.signal.aborted);
    expect(polls).toBeGreaterThanOrEqual(3);
    call.stop();
  });
});

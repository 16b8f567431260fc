import { describe, expect, it } from '@jest/globals';
import { SequencePool } from './sequence-pool.js';

describe('SequencePool', () => {
  it('hands out free items, then makes callers wait in arrival order', async () => {
    const pool = new SequencePool(['s0', 's1']);
    const first = await pool.acquire();
    const second = await pool.acquire();
    expect([first, second]).toEqual(['s0', 's1']);
    expect(pool.busy).toBe(2);

    const order: string[] = [];
    const third = pool.acquire().then((item) => order.push(`third:${item}`));
    const fourth = pool.acquire().then((item) => order.push(`fourth:${item}`));
    pool.release(second);
    pool.release(first);
    await Promise.all([third, fourth]);
    expect(order).toEqual(['third:s1', 'fourth:s0']);
    expect(pool.busy).toBe(2);
  });

  it('lets a waiter give up through its signal without losing an item', async () => {
    const pool = new SequencePool(['only']);
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal);
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    pool.release(held);
    expect(pool.busy).toBe(0);
    await expect(pool.acquire()).resolves.toBe('only');
  });

  it('rejects waiters and new callers once closed, and reports when the last item comes back', async () => {
    const pool = new SequencePool(['only']);
    const held = await pool.acquire();
    const waiting = pool.acquire();
    pool.close(new Error('closed'));
    await expect(waiting).rejects.toThrow('closed');
    await expect(pool.acquire()).rejects.toThrow('closed');
    let idle = false;
    const whenIdle = pool.whenIdle().then(() => (idle = true));
    await Promise.resolve();
    expect(idle).toBe(false);
    pool.release(held);
    await whenIdle;
    expect(pool.busy).toBe(0);
  });

  it('holds new callers back while the limit is lowered, and lets them in when it is raised again', async () => {
    const pool = new SequencePool(['s0', 's1', 's2']);
    const a = await pool.acquire();
    const b = await pool.acquire();
    pool.setLimit(1); // memory got short: two are held, none more until below the limit
    let got: string | undefined;
    const waiting = pool.acquire().then((item) => (got = item));
    pool.release(a);
    await Promise.resolve();
    expect(got).toBeUndefined();
    expect(pool.busy).toBe(1);
    pool.setLimit(3); // memory came back
    await waiting;
    expect(got).toBeDefined();
    expect(pool.busy).toBe(2);
    pool.release(b);
    expect(pool.limit).toBe(3);
  });
});

import { describe, expect, it } from '@jest/globals';
import { boundedAttempt, StoppedAttempt, waitUnlessStopped } from './bounded-attempt.js';

/** A request that never answers: it rejects only when its signal aborts, as the SDK's fetch does. */
const hanging = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('Request was aborted.'))));

const stoppedBy = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoppedAttempt);
  return (err as StoppedAttempt).cause;
};

describe('one attempt under its timers', () => {
  it("is stopped by its timer when nothing comes back, as a timeout rather than the SDK's abort error", async () => {
    const closing = new AbortController();
    const started = Date.now();
    const silent = boundedAttempt({ timeoutMs: 50, stops: { closing: closing.signal }, run: hanging });
    expect(await stoppedBy(silent)).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('lets an answer that keeps flowing run past the limit: each chunk re-arms the timer', async () => {
    const closing = new AbortController();
    const result = await boundedAttempt({
      timeoutMs: 80,
      stops: { closing: closing.signal },
      run: async (signal, stillFlowing) => {
        for (let chunk = 0; chunk < 6; chunk++) {
          await new Promise((resolve) => setTimeout(resolve, 40));
          if (signal.aborted) throw new Error('aborted');
          stillFlowing();
        }
        return 'whole answer';
      },
    });
    expect(result).toBe('whole answer');
  });

  it("names the caller's abort and close() as what stopped it", async () => {
    const caller = new AbortController();
    const closing = new AbortController();
    setTimeout(() => caller.abort(), 20);
    const stops = { caller: caller.signal, closing: closing.signal };
    expect(await stoppedBy(boundedAttempt({ timeoutMs: 5_000, stops, run: hanging }))).toBe('aborted');

    const closing2 = new AbortController();
    setTimeout(() => closing2.abort(), 20);
    const closed = boundedAttempt({ timeoutMs: 5_000, stops: { closing: closing2.signal }, run: hanging });
    expect(await stoppedBy(closed)).toBe('closed');
  });

  it('lets a failure of its own pass unchanged', async () => {
    const closing = new AbortController();
    const own = new Error('HTTP 500');
    await expect(
      boundedAttempt({ timeoutMs: 5_000, stops: { closing: closing.signal }, run: () => Promise.reject(own) }),
    ).rejects.toBe(own);
  });

  it("leaves no listener behind on the provider's long-lived close signal", async () => {
    const closing = new AbortController();
    const listening = new Set<unknown>();
    const signal = closing.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((type: 'abort', listener: () => void, options?: { once: boolean }) => {
      listening.add(listener);
      add(type, listener, options);
    }) as typeof add;
    signal.removeEventListener = ((type: 'abort', listener: () => void) => {
      listening.delete(listener);
      remove(type, listener);
    }) as typeof remove;
    await boundedAttempt({ timeoutMs: 1_000, stops: { closing: signal }, run: async () => 'ok' });
    await waitUnlessStopped(1, { closing: signal });
    expect(listening.size).toBe(0);
  });
});

describe('the wait between attempts', () => {
  it('ends at once when the caller aborts', async () => {
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 20);
    const started = Date.now();
    await waitUnlessStopped(30_000, { caller: caller.signal, closing: new AbortController().signal });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

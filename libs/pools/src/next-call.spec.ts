import { describe, expect, it } from '@jest/globals';
import { NextCall } from './next-call.js';

/** A call that counts how often it was made and answers when told to. */
function held() {
  const answers: Array<(err?: Error) => void> = [];
  let made = 0;
  const call = () => {
    made += 1;
    const n = made;
    return new Promise<number>((resolve, reject) => answers.push((err) => (err ? reject(err) : resolve(n))));
  };
  return { answers, call, made: () => made };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('NextCall', () => {
  it('makes a lone caller’s call at once, shared with the callers of the same task', async () => {
    const { answers, call, made } = held();
    const next = new NextCall(call);
    const [one, same] = [next.run(), next.run()];
    await Promise.resolve();
    expect(made()).toBe(1);
    answers[0]();
    await expect(Promise.all([one, same])).resolves.toEqual([1, 1]);
    const two = next.run();
    await Promise.resolve();
    expect(made()).toBe(2);
    answers[1]();
    await expect(two).resolves.toBe(2);
  });

  it('has those who ask during a call share one next call, made only once that call is answered', async () => {
    const { answers, call, made } = held();
    const next = new NextCall(call);
    const first = next.run();
    await tick();
    const during = [next.run(), next.run()];
    await tick();
    during.push(next.run());
    await tick();
    expect(made()).toBe(1); // nothing more goes out while the first is in flight
    answers[0]();
    await expect(first).resolves.toBe(1);
    await tick();
    expect(made()).toBe(2);
    answers[1]();
    await expect(Promise.all(during)).resolves.toEqual([2, 2, 2]);
  });

  it('rejects the callers of a failed call only, and goes on with the next', async () => {
    const { answers, call } = held();
    const next = new NextCall(call);
    const failed = next.run();
    await tick();
    const after = next.run();
    answers[0](new Error('Redis is gone'));
    await expect(failed).rejects.toThrow('Redis is gone');
    await tick();
    answers[1]();
    await expect(after).resolves.toBe(2);
  });
});

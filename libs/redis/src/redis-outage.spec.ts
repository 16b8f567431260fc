import { EventEmitter } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { isConnectionError, RedisOutage } from './redis-outage.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

function recorder() {
  const lines: Array<{ level: string; msg: string }> = [];
  const log = {
    warn: (m: { msg: string }) => void lines.push({ level: 'warn', msg: m.msg }),
    error: (m: { msg: string }) => void lines.push({ level: 'error', msg: m.msg }),
  };
  return { lines, outage: new RedisOutage(log as never) };
}

/** A BullMQ Queue/Worker as the outage log sees it: 'error' on itself, 'ready' on its backend. */
function fakeQueue() {
  const queue = new EventEmitter();
  const backend = new EventEmitter();
  return { queue, backend, like: Object.assign(queue, { getBackend: () => backend }) };
}

describe('RedisOutage', () => {
  it('logs one warning when Redis goes and one when every connection is back, however often each retries', () => {
    const { lines, outage } = recorder();
    const app = new EventEmitter();
    const q = fakeQueue();
    outage.watchClient(app, 'app');
    outage.watchQueue(q.like, 'queue');
    for (let i = 0; i < 20; i++) {
      app.emit('error', refused());
      q.queue.emit('error', refused());
    }
    expect(outage.active).toBe(true);
    app.emit('ready');
    expect(outage.active).toBe(true); // the queue's connection is still down
    q.backend.emit('ready');
    expect(outage.active).toBe(false);
    expect(lines.map((l) => l.msg)).toEqual([
      'Redis unreachable; retrying until it is back (logged once per outage)',
      'Redis reachable again',
    ]);
  });

  it("a timed command that fails during an outage is absorbed; other errors are the caller's to log", () => {
    const { lines, outage } = recorder();
    const app = new EventEmitter();
    outage.watchClient(app, 'app');
    const maxRetries = Object.assign(new Error('Reached the max retries per request limit'), {
      name: 'MaxRetriesPerRequestError',
    });
    expect(outage.absorbs(maxRetries)).toBe(true);
    expect(outage.absorbs(new Error('ERR wrong number of arguments'))).toBe(false);
    app.emit('error', refused());
    app.emit('ready');
    expect(outage.active).toBe(false);
    expect(lines).toHaveLength(2);
  });

  it('an error that is not about the connection is logged as an error, and starts no outage', () => {
    const { lines, outage } = recorder();
    const app = new EventEmitter();
    outage.watchClient(app, 'app');
    app.emit('error', new Error('NOSCRIPT No matching script'));
    expect(outage.active).toBe(false);
    expect(lines).toEqual([{ level: 'error', msg: 'redis client error' }]);
    expect(isConnectionError(new Error('Connection is closed.'))).toBe(true);
  });

  it("a job's lost lock (BullMQ's renewal refused) is a warning about the job, not a Redis error", () => {
    const { lines, outage } = recorder();
    const worker = new EventEmitter();
    outage.watchClient(worker, 'worker inference-local.tiny');
    worker.emit('error', new Error('could not renew lock for job b1.3'));
    expect(outage.active).toBe(false);
    expect(lines).toEqual([
      { level: 'warn', msg: "a job's lock was lost: its run here stops, and the job runs again" },
    ]);
  });
});

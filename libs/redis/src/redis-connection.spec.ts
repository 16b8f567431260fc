import { describe, expect, it } from '@jest/globals';
import { bullConnection, configuredTopology, NotReplicated, reconnectOnReadonly } from './redis-connection.js';

const auth = { username: 'app', password: 'pw', tls: true };

describe('redis connection options', () => {
  it('reconnects and resends a write that a demoted master answered READONLY, and nothing else', () => {
    expect(reconnectOnReadonly(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(reconnectOnReadonly(new Error('ERR unknown command'))).toBe(false);
  });

  it('gives BullMQ options on one server and on Sentinel, with credentials, TLS and the master by name', async () => {
    const one = bullConnection({ kind: 'standalone', url: 'redis://h:6379', auth });
    expect(one.connection).toMatchObject({ url: 'redis://h:6379', username: 'app', password: 'pw', tls: {} });
    const sentinel = bullConnection({
      kind: 'sentinel',
      sentinels: [{ host: 's1', port: 26379 }],
      masterName: 'queue',
      auth,
      sentinelPassword: 'spw',
    });
    expect(sentinel.connection).toMatchObject({
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'queue',
      role: 'master',
      sentinelPassword: 'spw',
      enableTLSForSentinelMode: true,
    });
    await expect(sentinel.waitForReplicas({ replicas: 1, timeoutMs: 10 })).resolves.toBeUndefined();
  });

  it('refuses to open nothing, naming the three variables', () => {
    expect(() => configuredTopology({ kind: 'none' })).toThrow(/REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS/);
  });

  it('says how many replicas confirmed', () => {
    expect(new NotReplicated(2, 1).message).toBe('only 1 of 2 Redis replica(s) confirmed the write in time');
  });
});

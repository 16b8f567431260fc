import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvReader } from './env-reader.js';
import { describeTopology, redisConfig } from './redis-topology.js';

const topology = (env: Record<string, string>) => redisConfig(new EnvReader(env)).topology;
const noAuth = { username: null, password: null, tls: false };

describe('redisConfig', () => {
  it('is one server by URL, credentials and TLS in it (rediss://user:pass@host)', () => {
    expect(topology({ REDIS_URL: 'rediss://app:pw@redis.internal:6380/0' })).toEqual({
      kind: 'standalone',
      url: 'rediss://app:pw@redis.internal:6380/0',
      auth: noAuth,
    });
  });

  it('is a Cluster by its seed nodes, with the password from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-redis-'));
    writeFileSync(join(dir, 'pw'), 's3cret\n');
    expect(
      topology({
        REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002',
        REDIS_USERNAME: 'app',
        REDIS_PASSWORD_FILE: join(dir, 'pw'),
        REDIS_TLS: 'true',
      }),
    ).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      auth: { username: 'app', password: 's3cret', tls: true },
    });
  });

  it('is a Sentinel-managed master, named mymaster unless told otherwise', () => {
    expect(topology({ REDIS_SENTINELS: 's1:26379,s2:26379' })).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      masterName: 'mymaster',
      auth: noAuth,
      sentinelPassword: null,
    });
    expect(
      topology({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'queue', REDIS_SENTINEL_PASSWORD: 'x' }),
    ).toMatchObject({ masterName: 'queue', sentinelPassword: 'x' });
  });

  it('is none when nothing is set, and waits for no replica unless asked', () => {
    expect(redisConfig(new EnvReader({}))).toEqual({
      topology: { kind: 'none' },
      wait: { replicas: 0, timeoutMs: 2000 },
    });
    expect(redisConfig(new EnvReader({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '500' })).wait).toEqual({
      replicas: 1,
      timeoutMs: 500,
    });
  });

  it.each([
    [
      { REDIS_URL: 'redis://a:6379', REDIS_SENTINELS: 's:26379' },
      /^REDIS_URL, REDIS_SENTINELS: expected only one of REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS/,
    ],
    [
      { REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINELS: 's:26379' },
      /^REDIS_CLUSTER_NODES, REDIS_SENTINELS: expected only one/,
    ],
    [{ REDIS_CLUSTER_NODES: 'a:7000,b' }, /^REDIS_CLUSTER_NODES: expected comma-separated host:port .*got "b"$/],
    [{ REDIS_SENTINELS: 's:99999' }, /^REDIS_SENTINELS: expected comma-separated host:port/],
    [{ REDIS_URL: 'http://redis:6379' }, /^REDIS_URL: expected a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_SENTINEL_MASTER: 'm' }, /^REDIS_SENTINEL_MASTER: expected REDIS_SENTINELS to be set too/],
    [{ REDIS_URL: 'redis://a', REDIS_SENTINEL_PASSWORD: 'p' }, /^REDIS_SENTINEL_PASSWORD: expected REDIS_SENTINELS/],
    [{ REDIS_TLS: 'yes' }, /^REDIS_TLS: expected true or false/],
  ])('names the variables and the expected form: %j', (env, message) => {
    expect(() => topology(env)).toThrow(message);
  });

  it('describes where Redis is without its password', () => {
    expect(describeTopology(topology({ REDIS_URL: 'redis://u:hunter2@h:1' }))).not.toContain('hunter2');
    expect(describeTopology(topology({ REDIS_SENTINELS: 'a:1,b:2' }))).toBe('master "mymaster" via sentinels a:1,b:2');
  });
});

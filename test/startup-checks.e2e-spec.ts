import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, startTestRedis, type TestRedis } from './support/redis-server-process.js';
import { startApp, systemEnv } from './support/system-under-test.js';

describe('start-up checks', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await startTestRedis();
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await client.quit();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it.each(['api', 'worker'] as const)(
    'the %s refuses to start on a Redis that may evict keys, and says why',
    async (app) => {
      const proc = startApp(app, await systemEnv({ REDIS_URL: redis.url }));
      const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
      expect(code).not.toBe(0);
      // Logs are JSON, so the quotes arrive escaped.
      expect(proc.output.join('')).toContain(
        'Redis maxmemory-policy is \\"allkeys-lru\\"; Switchyard requires \\"noeviction\\"',
      );
    },
  );

  it('refuses a bad setting, naming the variable', async () => {
    const proc = startApp(
      'api',
      await systemEnv({
        CLOUD_MAX_SENSITIVITY: 'top-secret',
        OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
        OPENAI_API_KEY: 'k',
      }),
    );
    const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
    expect(code).not.toBe(0);
    // One JSON line (the start-up failure), so the quotes arrive escaped.
    expect(proc.output.join('')).toContain(
      'CLOUD_MAX_SENSITIVITY: expected one of public, internal, confidential, restricted, got \\"top-secret\\"',
    );
  });

  it.each([
    [
      { CLOUD_MAX_SENSITIVITY: 'restricted', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'k' },
      'CLOUD_MAX_SENSITIVITY: expected at most \\"confidential\\" for a remote provider',
    ],
    [
      {
        K: 'k',
        CLOUD_PROVIDERS:
          '[{"name":"s","baseURL":"http://127.0.0.1:9/v1","model":"m","apiKeyEnv":"K","clearance":"restricted"}]',
      },
      'CLOUD_PROVIDERS[0].clearance: expected at most \\"confidential\\"',
    ],
  ])(
    'refuses restricted clearance for a provider not declared on premises, naming the setting (%#)',
    async (env, message) => {
      const proc = startApp('worker', await systemEnv(env));
      const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
      expect(code).not.toBe(0);
      expect(proc.output.join('')).toContain(message);
    },
  );
});

/**
 * A Redis that is not there, or not what its variable says, ends start-up as REDIS_URL always did: one fatal line
 * naming the variable and what was tried, exit 1, within seconds. Unreachable sentinels kept the apps retrying
 * forever, printing a stack on every try; a plain Redis listed as a Cluster node was reported as unreachable.
 */
describe('start-up on a Redis topology that does not answer as configured', () => {
  let plain: TestRedis;

  beforeAll(async () => {
    plain = await startTestRedis(); // a single server, cluster mode off
  });

  afterAll(async () => {
    await plain?.stop();
  });

  /** Runs the app to its exit (killed after 30 s, so a hang fails the test instead of stalling it). */
  async function startUntilExit(app: 'api' | 'worker', env: NodeJS.ProcessEnv) {
    const startedAt = Date.now();
    const proc = startApp(app, await systemEnv(env));
    const hang = setTimeout(() => proc.child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
    clearTimeout(hang);
    const lines = proc.output
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '');
    return { code, ms: Date.now() - startedAt, lines };
  }

  it.each(['api', 'worker'] as const)(
    'the %s stops in one fatal line naming REDIS_SENTINELS and each sentinel it tried when none answers',
    async (app) => {
      const sentinels = `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
      const { code, ms, lines } = await startUntilExit(app, { REDIS_SENTINELS: sentinels });
      expect(code).toBe(1);
      expect(ms).toBeLessThan(20_000);
      expect(lines).toHaveLength(1);
      const line = JSON.parse(lines[0]);
      expect(line).toMatchObject({ level: 'fatal', context: app });
      expect(line.message).toContain(`REDIS_SENTINELS: cannot reach master "mymaster" via sentinels ${sentinels}`);
      for (const s of sentinels.split(',')) expect(line.message).toContain(`failed to connect to sentinel ${s}`);
      expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+|Unhandled error event/);
    },
    40_000,
  );

  it.each(['api', 'worker'] as const)(
    'the %s says a node in REDIS_CLUSTER_NODES answered with cluster mode disabled, not that it is unreachable',
    async (app) => {
      const node = `127.0.0.1:${plain.port}`;
      const { code, ms, lines } = await startUntilExit(app, { REDIS_CLUSTER_NODES: node });
      expect(code).toBe(1);
      expect(ms).toBeLessThan(20_000);
      expect(lines).toHaveLength(1);
      const line = JSON.parse(lines[0]);
      expect(line).toMatchObject({ level: 'fatal', context: app });
      expect(line.message).toContain(`REDIS_CLUSTER_NODES: ${node} answered, but cluster mode is disabled there`);
      expect(line.message).toContain('cluster_enabled:0');
      expect(line.message).not.toMatch(/cannot reach|None of startup nodes|Failed to refresh slots cache/);
      expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+|Unhandled error event/);
    },
    40_000,
  );

  it.each(['api', 'worker'] as const)(
    'the %s stops in one fatal line naming REDIS_URL when nothing listens there',
    async (app) => {
      const url = `redis://127.0.0.1:${await freePort()}`;
      const { code, ms, lines } = await startUntilExit(app, { REDIS_URL: url });
      expect(code).toBe(1);
      expect(ms).toBeLessThan(20_000);
      expect(lines).toHaveLength(1);
      const line = JSON.parse(lines[0]);
      expect(line).toMatchObject({ level: 'fatal', context: app });
      expect(line.message).toContain(`REDIS_URL: cannot reach ${url}: connect ECONNREFUSED`);
      expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+|Unhandled error event/);
    },
    40_000,
  );
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestRedis, type TestRedis } from './support/redis-server-process.js';
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

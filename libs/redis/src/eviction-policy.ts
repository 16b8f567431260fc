import type { Redis } from 'ioredis';

/**
 * BullMQ loses jobs when Redis evicts keys under memory pressure, so we refuse to start unless the
 * server's maxmemory-policy is noeviction. INFO works where CONFIG is disabled (managed Redis).
 */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const info = await redis.info('memory');
  const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
  if (policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is "${policy ?? 'unknown'}"; Switchyard requires "noeviction" so queued jobs are never evicted. ` +
        'Set it with `CONFIG SET maxmemory-policy noeviction` or `maxmemory-policy noeviction` in redis.conf.',
    );
  }
}

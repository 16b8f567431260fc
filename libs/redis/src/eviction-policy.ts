import { masters, type RedisClient } from './redis-connection.js';

/**
 * BullMQ loses jobs when Redis evicts keys under memory pressure, so we refuse to start unless every
 * server that holds data (each master of a Cluster) has maxmemory-policy noeviction. INFO works where
 * CONFIG is disabled (managed Redis).
 */
export async function assertNoEviction(client: RedisClient): Promise<void> {
  for (const node of masters(client)) {
    const info = await node.info('memory');
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (policy !== 'noeviction') {
      const where = masters(client).length > 1 ? ` on ${node.options.host}:${node.options.port}` : '';
      throw new Error(
        `Redis maxmemory-policy is "${policy ?? 'unknown'}"${where}; Switchyard requires "noeviction" so queued jobs are never evicted. ` +
          'Set it with `CONFIG SET maxmemory-policy noeviction` or `maxmemory-policy noeviction` in redis.conf.',
      );
    }
  }
}

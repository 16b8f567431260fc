import { dataNodes, type RedisClient } from './redis-client.js';

/**
 * BullMQ loses jobs when Redis evicts keys under memory pressure, so we refuse to start unless the
 * server's maxmemory-policy is noeviction: on a Cluster, every master's (a key lives on one of them).
 * INFO works where CONFIG is disabled (managed Redis).
 */
export async function assertNoEviction(redis: RedisClient): Promise<void> {
  for (const node of dataNodes(redis)) {
    const info = await node.info('memory');
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (policy !== 'noeviction') {
      const where = redis.isCluster ? ` on ${node.options.host ?? '?'}:${node.options.port ?? '?'}` : '';
      throw new Error(
        `Redis maxmemory-policy is "${policy ?? 'unknown'}"${where}; Switchyard requires "noeviction" so queued jobs are never evicted. ` +
          'Set it with `CONFIG SET maxmemory-policy noeviction` or `maxmemory-policy noeviction` in redis.conf.',
      );
    }
  }
}

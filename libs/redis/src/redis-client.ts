import type { Cluster, Redis } from 'ioredis';

/**
 * The app's Redis client: one server (or a Sentinel-managed master) or a Redis Cluster. Everything that
 * takes the client takes this, so a Cluster can be passed; what differs (INFO per node, SCAN per master)
 * is handled where it is used (issue 14 §4).
 */
export type RedisClient = Redis | Cluster;

/** The servers that hold the data: every master of a Cluster, or the one server. */
export function dataNodes(redis: RedisClient): Redis[] {
  return isCluster(redis) ? redis.nodes('master') : [redis];
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis.isCluster;
}

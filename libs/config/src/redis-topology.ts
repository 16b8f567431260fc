import { ConfigError } from '#libs/domain';
import type { EnvReader } from './env-reader.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Credentials for the data nodes (REDIS_USERNAME, REDIS_PASSWORD or _FILE) and TLS (REDIS_TLS). */
export interface RedisAuth {
  username: string | null;
  password: string | null;
  tls: boolean;
}

/**
 * Where Redis is, as exactly one of: nothing configured (`npm start` runs a private redis-server; the apps
 * refuse to start), one server by URL, a Redis Cluster by its seed nodes, or a master found through Sentinel.
 * Setting the variables of two topologies is a ConfigError naming them.
 */
export type RedisTopology =
  | { kind: 'none' }
  | { kind: 'standalone'; url: string; auth: RedisAuth }
  | { kind: 'cluster'; nodes: HostPort[]; auth: RedisAuth }
  | {
      kind: 'sentinel';
      sentinels: HostPort[];
      /** The master's name as the sentinels know it (REDIS_SENTINEL_MASTER, default mymaster). */
      masterName: string;
      auth: RedisAuth;
      /** REDIS_SENTINEL_PASSWORD (or _FILE): the sentinels' own `requirepass`, if any. */
      sentinelPassword: string | null;
    };

/**
 * What makes a write acknowledged to a client survive a failover (REDIS_WAIT_REPLICAS, REDIS_WAIT_TIMEOUT_MS):
 * with `replicas` > 0, the API answers 202 only after WAIT saw that many replicas hold the batch and its jobs.
 */
export interface ReplicaWaitConfig {
  replicas: number;
  timeoutMs: number;
}

export interface RedisConfig {
  topology: RedisTopology;
  wait: ReplicaWaitConfig;
}

const TOPOLOGY_VARIABLES = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const;

/** "host:port,host:port" ("[::1]:7000" for IPv6); at least one. */
export function parseHostPorts(variable: string, value: string): HostPort[] {
  const expected = 'comma-separated host:port pairs, e.g. "10.0.0.1:7000,10.0.0.2:7000"';
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new ConfigError(variable, expected, value);
  return parts.map((part) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(part);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) throw new ConfigError(variable, expected, part);
    return { host: m[1] ?? m[2], port };
  });
}

export function redisConfig(e: EnvReader): RedisConfig {
  const given = {
    REDIS_URL: e.url('REDIS_URL'),
    REDIS_CLUSTER_NODES: e.optionalString('REDIS_CLUSTER_NODES'),
    REDIS_SENTINELS: e.optionalString('REDIS_SENTINELS'),
  };
  const set = TOPOLOGY_VARIABLES.filter((name) => given[name] !== undefined);
  if (set.length > 1)
    throw new ConfigError(set.join(', '), `only one of ${TOPOLOGY_VARIABLES.join(', ')} (one Redis topology)`);
  const masterName = e.optionalString('REDIS_SENTINEL_MASTER');
  if (masterName !== undefined && set[0] !== 'REDIS_SENTINELS')
    throw new ConfigError('REDIS_SENTINEL_MASTER', 'REDIS_SENTINELS to be set too (the sentinels that know it)');
  const auth: RedisAuth = {
    username: e.optionalString('REDIS_USERNAME') ?? null,
    password: e.secret('REDIS_PASSWORD') ?? null,
    tls: e.bool('REDIS_TLS', false),
  };
  const wait = {
    replicas: e.int('REDIS_WAIT_REPLICAS', 0, 0, 16),
    timeoutMs: e.int('REDIS_WAIT_TIMEOUT_MS', 2000, 1, 60_000),
  };
  const sentinelPassword = e.secret('REDIS_SENTINEL_PASSWORD') ?? null;
  if (sentinelPassword !== null && set[0] !== 'REDIS_SENTINELS')
    throw new ConfigError('REDIS_SENTINEL_PASSWORD', 'REDIS_SENTINELS to be set too');
  switch (set[0]) {
    case undefined:
      return { topology: { kind: 'none' }, wait };
    case 'REDIS_URL': {
      const url = given.REDIS_URL!;
      if (!/^rediss?:$/.test(new URL(url).protocol))
        throw new ConfigError('REDIS_URL', 'a redis:// or rediss:// URL', new URL(url).protocol);
      return { topology: { kind: 'standalone', url, auth }, wait };
    }
    case 'REDIS_CLUSTER_NODES':
      return {
        topology: { kind: 'cluster', nodes: parseHostPorts('REDIS_CLUSTER_NODES', given.REDIS_CLUSTER_NODES!), auth },
        wait,
      };
    case 'REDIS_SENTINELS':
      return {
        topology: {
          kind: 'sentinel',
          sentinels: parseHostPorts('REDIS_SENTINELS', given.REDIS_SENTINELS!),
          masterName: masterName ?? 'mymaster',
          auth,
          sentinelPassword,
        },
        wait,
      };
  }
}

/** For logs and errors: where Redis is, without credentials. */
export function describeTopology(t: RedisTopology): string {
  const list = (hs: HostPort[]) => hs.map((h) => `${h.host}:${h.port}`).join(',');
  switch (t.kind) {
    case 'none':
      return 'no Redis configured';
    case 'standalone': {
      const u = new URL(t.url);
      if (u.password) u.password = '***';
      return u.toString();
    }
    case 'cluster':
      return `Redis Cluster via ${list(t.nodes)}`;
    case 'sentinel':
      return `master "${t.masterName}" via sentinels ${list(t.sentinels)}`;
  }
}

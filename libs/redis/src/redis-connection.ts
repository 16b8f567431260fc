import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import {
  describeTopology,
  type HostPort,
  type RedisAuth,
  type RedisTopology,
  type ReplicaWaitConfig,
} from '#libs/config';

import { dataNodes, type RedisClient } from './redis-client.js';

/** Configured, or the apps cannot start: `npm start` fills in a private Redis when nothing is configured. */
export type ConfiguredTopology = Exclude<RedisTopology, { kind: 'none' }>;

export function configuredTopology(topology: RedisTopology): ConfiguredTopology {
  if (topology.kind === 'none')
    throw new Error(
      'REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS: expected one of them (npm start provides a private Redis when none is set)',
    );
  return topology;
}

/**
 * A write answered READONLY went to a server that is a replica now (the old master came back after a
 * failover while this connection still pointed at it): reconnect, which asks Sentinel for the master
 * again, and resend the command (2).
 */
export function reconnectOnReadonly(err: Error): 2 | false {
  return err.message.startsWith('READONLY') ? 2 : false;
}

/** What every connection to a data node carries: credentials, TLS, and READONLY handling. */
function nodeOptions(auth: RedisAuth): RedisOptions {
  return {
    ...(auth.username === null ? {} : { username: auth.username }),
    ...(auth.password === null ? {} : { password: auth.password }),
    ...(auth.tls ? { tls: {} } : {}),
    reconnectOnError: reconnectOnReadonly,
  };
}

/**
 * Options for one server found through Sentinel: ioredis asks the sentinels for the master's address on
 * every (re)connect, so the apps follow a failover without a restart: a dead master closes the connection,
 * a demoted one answers READONLY (reconnectOnReadonly). ioredis's `failoverDetector` is left off: its
 * sentinel subscriptions outlive `quit()` and keep the process alive (measured: a client closed after a
 * failover test kept node running).
 */
function sentinelOptions(t: Extract<RedisTopology, { kind: 'sentinel' }>): RedisOptions {
  return {
    ...nodeOptions(t.auth),
    sentinels: t.sentinels,
    name: t.masterName,
    role: 'master',
    ...(t.sentinelPassword === null ? {} : { sentinelPassword: t.sentinelPassword }),
    ...(t.auth.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // Until a replica is promoted the sentinels still name the dead master: keep asking, at most every 2 s.
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}

/**
 * Options for a Cluster client. A master's death leaves its slots down until its replica is promoted
 * (cluster-node-timeout plus an election: seconds); commands meanwhile are retried, not failed at once.
 */
function clusterOptions(t: Extract<RedisTopology, { kind: 'cluster' }>, redis: RedisOptions): ClusterOptions {
  return {
    redisOptions: { ...nodeOptions(t.auth), ...redis },
    clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
    retryDelayOnClusterDown: 500,
    retryDelayOnFailover: 300,
    maxRedirections: 64,
    slotsRefreshTimeout: 2000,
    // TLS certificates name hosts, not the IPs the cluster announces: keep the name the seed was given.
    ...(t.auth.tls ? { dnsLookup: (address: string, done: (e: null, a: string) => void) => done(null, address) } : {}),
  };
}

export interface OpenRedisOptions {
  /** Commands queued while disconnected fail after this many reconnects; null: they wait (BullMQ workers). */
  maxRetriesPerRequest: number | null;
  lazyConnect?: boolean;
}

/**
 * Changes how many reconnects a live client's commands wait through before they fail (ioredis's maxRetriesPerRequest;
 * null: until Redis is back). ioredis reads the option at each reconnect, so the change holds for commands already
 * queued too. A Cluster keeps a copy per node, and makes new nodes from its redisOptions: both are changed.
 */
export function setRetriesPerRequest(client: RedisClient, retries: number | null): void {
  if (client instanceof Cluster) {
    if (client.options.redisOptions) client.options.redisOptions.maxRetriesPerRequest = retries;
    for (const node of client.nodes('all')) node.options.maxRetriesPerRequest = retries;
  } else client.options.maxRetriesPerRequest = retries;
}

/** Opens the app's client on the configured topology. The caller closes it (`closeRedis`). */
export function openRedis(topology: RedisTopology, opts: OpenRedisOptions): RedisClient {
  const t = configuredTopology(topology);
  const common: RedisOptions = { maxRetriesPerRequest: opts.maxRetriesPerRequest, lazyConnect: opts.lazyConnect };
  // Commands sent in one tick leave in one write (ioredis auto-pipelining), in order: an item's reads and writes
  // sent at once (Promise.all) cost one syscall, not one each (issue 17 §1: strace over a bench:queue run counted
  // the worker's socket writes per item down from 5.9 to 3.5; its CPU per item moved within bench noise). Not on a
  // Cluster, whose own pipelining per slot is not what was measured.
  const pipelined: RedisOptions = { ...common, enableAutoPipelining: true };
  switch (t.kind) {
    case 'standalone':
      // A URL's own credentials win over REDIS_USERNAME/REDIS_PASSWORD (ioredis fills only what the URL lacks).
      return new Redis(t.url, { ...nodeOptions(t.auth), ...pipelined });
    case 'sentinel':
      return new Redis({ ...sentinelOptions(t), ...pipelined });
    case 'cluster':
      return new Cluster(t.nodes, { ...clusterOptions(t, common), lazyConnect: opts.lazyConnect });
  }
}

/** BullMQ's connection, and how to close what was opened for it. */
export interface BullConnection {
  /** Give it to BullMQ as `connection`: options (BullMQ opens its own clients) or a Cluster it shares. */
  connection: (RedisOptions & { url?: string }) | Cluster;
  /**
   * WAIT on the connections BullMQ's queues wrote through, where they are not the app's: on a Cluster the
   * jobs may sit on other masters than the batch. On one server (or Sentinel's master) the app client's
   * own WAIT after intake's last write covers the jobs too (one ordered replication stream), so: nothing.
   */
  waitForReplicas(wait: ReplicaWaitConfig): Promise<void>;
  /** Closes the Cluster client opened for BullMQ (BullMQ never closes a client it was given); a no-op otherwise. */
  close(): Promise<void>;
}

/**
 * The connection BullMQ's queues and workers use. One server or Sentinel: options, from which each Queue
 * and Worker opens (and closes) its own connections. A Cluster: BullMQ needs a Cluster *instance*, which
 * queues share and workers duplicate; it must not fail commands while a master is failing over
 * (`maxRetriesPerRequest: null`, which BullMQ requires of a worker's connection).
 */
export function bullConnection(topology: RedisTopology): BullConnection {
  const t = configuredTopology(topology);
  switch (t.kind) {
    case 'standalone':
      return { connection: { url: t.url, ...nodeOptions(t.auth) }, close: nothing, waitForReplicas: nothing };
    case 'sentinel':
      return { connection: sentinelOptions(t), close: nothing, waitForReplicas: nothing };
    case 'cluster': {
      const cluster = new Cluster(t.nodes, clusterOptions(t, { maxRetriesPerRequest: null }));
      return {
        connection: cluster,
        close: () => closeRedis(cluster),
        waitForReplicas: (wait) => waitForReplicas(cluster, wait),
      };
    }
  }
}

const nothing = (): Promise<void> => Promise.resolve();

/** QUIT when connected; when Redis is gone QUIT would wait for a reconnect, and there is nothing to flush. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status !== 'ready') return client.disconnect();
  await client.quit().then(
    () => undefined,
    () => client.disconnect(),
  );
}

/** WAIT answered with fewer replicas than REDIS_WAIT_REPLICAS within REDIS_WAIT_TIMEOUT_MS. */
export class NotReplicated extends Error {
  constructor(
    readonly wanted: number,
    readonly acknowledged: number,
    /** What the request wrote and would have answered, where the caller knows it: an error filter may name it. */
    readonly answer?: unknown,
  ) {
    super(`only ${acknowledged} of ${wanted} Redis replica(s) confirmed the write in time`);
    this.name = 'NotReplicated';
  }
}

/**
 * Blocks until `wait.replicas` replicas hold every write this client has made (WAIT, on each master it
 * wrote to). Replication is one ordered stream per master, so this covers the client's earlier writes and
 * whatever the master had applied before them. Throws NotReplicated when fewer confirm in time.
 */
export async function waitForReplicas(client: RedisClient, wait: ReplicaWaitConfig): Promise<void> {
  if (wait.replicas === 0) return;
  const acked = await Promise.all(dataNodes(client).map((node) => node.wait(wait.replicas, wait.timeoutMs)));
  const fewest = Math.min(...acked);
  if (fewest < wait.replicas) throw new NotReplicated(wait.replicas, fewest);
}

/**
 * Blocks until `wait.replicas` replicas hold every write the master(s) had applied when it was called, whichever
 * connection made it (BullMQ's, this process's other clients): a fence write on `client`, then WAIT on it.
 * Replication is one ordered stream per master, so the fence's offset covers all that came before it there. On a
 * Cluster the fence lands on one master; each other client must WAIT on its own writes too (bullConnection's).
 */
export async function waitForReplicasOfAll(
  client: RedisClient,
  fenceKey: string,
  wait: ReplicaWaitConfig,
): Promise<void> {
  if (wait.replicas === 0) return;
  await client.set(fenceKey, String(Date.now()), 'PX', 60_000);
  await waitForReplicas(client, wait);
}

/**
 * Connects a lazily opened client after one try at everything configured: the server, the Cluster's seeds, or each
 * sentinel once (each within ioredis's connectTimeout). What cannot be reached is one line naming the variable and
 * what was tried, not a stack. Retrying is for a Redis that was there and went away (redis-outage); at start-up a
 * Sentinel client would ask the sentinels forever, every attempt an "Unhandled error event" with its stack, so the
 * first error a connect emits ends it.
 */
export async function connectRedis(client: RedisClient, topology: RedisTopology): Promise<void> {
  const t = configuredTopology(topology);
  const sentinelsTried: string[] = [];
  const onSentinelError = (err: Error) => sentinelsTried.push(err.message);
  let failed: (err: Error) => void = () => undefined;
  const firstError = new Promise<never>((_, reject) => (failed = reject));
  client.on('error', failed);
  client.on('sentinelError', onSentinelError);
  try {
    await Promise.race([client.connect(), firstError]);
  } catch (err) {
    client.disconnect();
    if (t.kind === 'cluster') {
      const notCluster = await nodesWithoutClusterMode(t);
      if (notCluster.length > 0) throw new RedisNotInClusterMode(notCluster);
    }
    // One sentinelError per sentinel: none of them named the master (down, or not watching REDIS_SENTINEL_MASTER).
    if (t.kind === 'sentinel' && sentinelsTried.length >= t.sentinels.length)
      throw new RedisUnreachable(t, `no sentinel named the master (${sentinelsTried.join('; ')})`);
    throw new RedisUnreachable(t, describeFailure(err, sentinelsTried));
  } finally {
    client.off('error', failed);
    client.off('sentinelError', onSentinelError);
  }
}

/** ioredis's reason, with what it leaves out: each sentinel's answer, the last node's error behind a Cluster's. */
function describeFailure(err: unknown, sentinelsTried: string[]): string {
  if (!(err instanceof Error)) return String(err);
  const lastNodeError: unknown = (err as { lastNodeError?: unknown }).lastNodeError;
  const detail = lastNodeError instanceof Error ? `${err.message} (${lastNodeError.message})` : err.message;
  return sentinelsTried.length === 0 ? detail : `${detail} (${sentinelsTried.join('; ')})`;
}

/**
 * The seeds that answer but run without cluster mode (INFO cluster: `cluster_enabled:0`), so that a Cluster client's
 * CLUSTER SLOTS is refused and ioredis reports "None of startup nodes is available" though the node is up.
 */
async function nodesWithoutClusterMode(t: Extract<RedisTopology, { kind: 'cluster' }>): Promise<HostPort[]> {
  const answers = await Promise.all(
    t.nodes.map(async (node) => {
      const probe = new Redis({
        ...nodeOptions(t.auth),
        host: node.host,
        port: node.port,
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        connectTimeout: 2000,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        return /^cluster_enabled:0\b/m.test(await probe.info('cluster')) ? node : null;
      } catch {
        return null;
      } finally {
        probe.disconnect();
      }
    }),
  );
  return answers.filter((node) => node !== null);
}

/** The variable that names a topology, so that a start-up failure points at the setting to fix. */
function variableOf(t: ConfiguredTopology): string {
  switch (t.kind) {
    case 'standalone':
      return 'REDIS_URL';
    case 'cluster':
      return 'REDIS_CLUSTER_NODES';
    case 'sentinel':
      return 'REDIS_SENTINELS';
  }
}

export class RedisUnreachable extends Error {
  constructor(topology: ConfiguredTopology, reason: string) {
    super(`${variableOf(topology)}: cannot reach ${describeTopology(topology)}: ${reason}`);
    this.name = 'RedisUnreachable';
  }
}

/** REDIS_CLUSTER_NODES names a server that answers but is no Cluster node: the setting is wrong, not the network. */
export class RedisNotInClusterMode extends Error {
  constructor(nodes: HostPort[]) {
    super(
      `REDIS_CLUSTER_NODES: ${nodes.map((n) => `${n.host}:${n.port}`).join(', ')} answered, but cluster mode is ` +
        'disabled there (INFO cluster says cluster_enabled:0, so CLUSTER SLOTS is refused): list the nodes of a ' +
        'Redis Cluster, or give a single server as REDIS_URL',
    );
    this.name = 'RedisNotInClusterMode';
  }
}

/**
 * The apps' first step once config is read: one connection to the configured topology, closed again, before Nest
 * opens the app's client and BullMQ's. Unreachable, it fails start-up as one line (RedisUnreachable) instead of
 * every BullMQ connection printing its own retries and Nest logging the failure with its stack.
 */
export async function assertRedisReachable(topology: RedisTopology): Promise<void> {
  const client = openRedis(topology, { maxRetriesPerRequest: 1, lazyConnect: true });
  await connectRedis(client, topology);
  await closeRedis(client);
}

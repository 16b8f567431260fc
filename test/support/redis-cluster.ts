import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './redis-server-process.js';

const run = promisify(execFile);

export interface ClusterNode {
  host: string;
  port: number;
}

export interface TestRedisCluster {
  /** Every node, masters first (as `redis-cli --cluster create` was given them). */
  nodes: ClusterNode[];
  stop(): Promise<void>;
}

/** Polls `ready` every 50 ms until it holds or `timeoutMs` passes. */
async function until(what: string, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function answers(node: ClusterNode, command: (redis: Redis) => Promise<boolean>): Promise<boolean> {
  const redis = new Redis({ ...node, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    return await command(redis);
  } finally {
    redis.disconnect();
  }
}

/**
 * A real Redis Cluster on loopback free ports for tests (issue 14 §4): `masters` masters with one replica
 * each, `redis-server --cluster-enabled yes` per node in a temporary folder (no AOF, no RDB, noeviction as
 * Switchyard requires), joined by `redis-cli --cluster create`, and ready once every node reports
 * `cluster_state:ok`. stop() ends every process it started and removes the folder.
 */
export async function startTestRedisCluster({ masters = 3 } = {}): Promise<TestRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-cluster-'));
  const children: ChildProcess[] = [];
  const nodes: ClusterNode[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * 2; i++) {
      const port = await freePort();
      // The bus port is named too (by default port + 10000, which may be taken).
      const busPort = await freePort();
      const child = spawn(
        'redis-server',
        [
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--cluster-enabled', 'yes',
          '--cluster-port', String(busPort),
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '2000',
          '--appendonly', 'no',
          '--save', '',
          '--maxmemory-policy', 'noeviction',
          '--dir', dir,
        ], // prettier-ignore
        { stdio: 'ignore' },
      );
      children.push(child);
      const node = { host: '127.0.0.1', port };
      nodes.push(node);
      await until(`node ${port} answers`, () => answers(node, async (r) => (await r.ping()) === 'PONG'), 10_000);
    }
    await run('redis-cli', [
      '--cluster', 'create',
      ...nodes.map((n) => `${n.host}:${n.port}`),
      '--cluster-replicas', '1',
      '--cluster-yes',
    ]); // prettier-ignore
    for (const node of nodes)
      await until(
        `node ${node.port} reports cluster_state:ok`,
        () => answers(node, async (r) => (await r.cluster('INFO')).includes('cluster_state:ok')),
        30_000,
      );
    return { nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

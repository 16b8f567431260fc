import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { isReachable, stopRedisServer } from '#libs/redis';
import { freePorts } from './redis-server-process.js';

const exec = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ClusterMember {
  port: number;
  dir: string;
  child: ChildProcess | null;
}

/**
 * A real Redis Cluster for the e2e suites and the chaos run: 3 masters + 3 replicas on loopback (`--cluster-enabled yes`, created
 * with `redis-cli --cluster create … --cluster-replicas 1`), AOF fsynced on every write, noeviction.
 * `crash()` SIGKILLs a master that holds slots; `restart()` waits for its replica to be promoted (the
 * cluster is whole again, cluster-node-timeout 2 s), then starts the killed node on its old port and
 * folder, where it rejoins as a replica. `stop()` ends every node (`stopRedisServer`: a replica still writing the AOF of
 * its first sync refuses one SIGTERM) and removes the folder.
 */
export class CrashableCluster {
  restarts = 0;
  private killed: ClusterMember | null = null;

  private constructor(
    private readonly members: ClusterMember[],
    private readonly root: string,
  ) {}

  /** Every node, masters first as `redis-cli --cluster create` was given them, for `new Cluster(nodes)`. */
  get nodes(): Array<{ host: string; port: number }> {
    return this.members.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** REDIS_CLUSTER_NODES for the apps: every node as a seed. */
  get seeds(): string {
    return this.members.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /**
   * Draws six ports whose bus ports (+10000) are free too, and starts the nodes. A port is free when drawn, but another
   * process may bind it before redis-server does; that start is thrown away and the cluster starts again on new ports
   * (at most three times, and only for that cause).
   */
  static async start(): Promise<CrashableCluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await CrashableCluster.startOnce();
      } catch (err) {
        if (!(err instanceof PortTaken) || attempt >= 3) throw err;
      }
    }
  }

  private static async startOnce(): Promise<CrashableCluster> {
    const root = mkdtempSync(join(tmpdir(), 'switchyard-chaos-cluster-'));
    const nodes: ClusterMember[] = (await freePorts(6, { busOffset: 10_000 })).map((port) => {
      const dir = join(root, String(port));
      mkdirSync(dir);
      return { port, dir, child: null };
    });
    const cluster = new CrashableCluster(nodes, root);
    try {
      for (const n of nodes) await cluster.spawn(n);
      await exec('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ]);
      await cluster.waitWhole();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** SIGKILLs one master that holds slots (the next in turn); no-op when one is already down. */
  async crash(): Promise<void> {
    if (this.killed) return;
    const masters = await this.masterPorts();
    const port = masters[this.restarts % masters.length];
    const node = this.members.find((n) => n.port === port)!;
    const child = node.child!;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    node.child = null;
    this.killed = node;
  }

  /** Waits for the killed master's replica to take over, then brings the killed node back as a replica. */
  async restart(): Promise<void> {
    await this.crash();
    const node = this.killed!;
    await this.waitWhole();
    await this.spawn(node);
    this.killed = null;
    await this.waitWhole();
    this.restarts += 1;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (n) => {
        if (n.child && (await stopRedisServer(n.child)) === 'killed')
          console.warn(`cluster node ${n.port} did not stop on SIGTERM; killed it (log: ${n.dir}/redis.log)`);
      }),
    );
    rmSync(this.root, { recursive: true, force: true });
  }

  /** Ports of the masters that hold slots, as the live nodes see them. */
  private async masterPorts(): Promise<number[]> {
    const live = this.members.find((n) => n.child !== null)!;
    const r = new Redis({ port: live.port, host: '127.0.0.1', lazyConnect: true });
    try {
      await r.connect();
      const lines = ((await r.call('CLUSTER', 'NODES')) as string).trim().split('\n');
      return lines
        .map((l) => l.split(' '))
        .filter((f) => f[2].includes('master') && !f[2].includes('fail') && f.length > 8)
        .map((f) => Number(/:(\d+)@/.exec(f[1])![1]));
    } finally {
      r.disconnect();
    }
  }

  /** Every live node says cluster_state:ok and three live masters hold all 16384 slots. */
  private async waitWhole(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        this.members
          .filter((n) => n.child !== null)
          .map(async (n) => {
            const r = new Redis({ port: n.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
            try {
              await r.connect();
              return /cluster_state:ok/.test((await r.call('CLUSTER', 'INFO')) as string);
            } catch {
              return false;
            } finally {
              r.disconnect();
            }
          }),
      );
      if (states.every(Boolean) && (await this.masterPorts()).length === 3) return;
      if (Date.now() > deadline) throw new Error(`the cluster was not whole within ${timeoutMs}ms (see ${this.root})`);
      await sleep(200);
    }
  }

  private async spawn(node: ClusterMember): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(node.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        node.dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        '2000',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
        '--save',
        '',
        '--logfile',
        'redis.log',
      ],
      { stdio: 'ignore' },
    );
    await new Promise<void>((ok, fail) => {
      child.once('error', (e) => fail(new Error(`could not start redis-server (is it on PATH?): ${e.message}`)));
      child.once('spawn', () => ok());
    });
    node.child = child;
    const deadline = Date.now() + 30_000;
    // Reachable is not enough: another process may hold the port. The node is up when the server there is this child.
    while (!(await isReachable('127.0.0.1', node.port)) || !(await answersAs(node.port, child.pid!))) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = readLog(node.dir);
        if (/Address already in use/i.test(log)) throw new PortTaken(node.port);
        throw new Error(`redis-server exited; see ${node.dir}/redis.log`);
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${node.port} within 30s`);
      await sleep(50);
    }
  }
}

/** Another process bound a drawn port (or its bus port) before redis-server could. */
class PortTaken extends Error {
  constructor(port: number) {
    super(`port ${port} or its cluster bus port was taken by another process before redis-server bound it`);
  }
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'redis.log'), 'utf8');
  } catch {
    return '';
  }
}

/** Whether the Redis on `port` is the process `pid` (INFO server's process_id). */
async function answersAs(port: number, pid: number): Promise<boolean> {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await r.connect();
    const info = await r.info('server');
    return Number(/^process_id:(\d+)/m.exec(info)?.[1]) === pid;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

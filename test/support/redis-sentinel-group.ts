import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { isReachable } from '#libs/redis';
import { freePort } from './redis-server-process.js';
import { sleep } from './system-under-test.js';

/** One redis-server (data node or sentinel) of the group, on a loopback port. */
interface Node {
  port: number;
  child: ChildProcess;
}

/**
 * A master, its replicas and three sentinels on loopback free ports, as an operator runs them: AOF on,
 * noeviction, sentinels that declare a master down after 1 s without answers (quorum 2). The data
 * nodes fsync every second: what survives losing the master is what replication delivered (WAIT), not
 * the dead master's disk.
 */
export class SentinelGroup {
  private constructor(
    readonly dir: string,
    readonly masterName: string,
    private readonly data: Node[],
    private readonly sentinels: Node[],
  ) {}

  /** REDIS_SENTINELS for the apps. */
  get sentinelsEnv(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  static async start(opts: { replicas?: number; masterName?: string } = {}): Promise<SentinelGroup> {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-sentinel-'));
    const masterName = opts.masterName ?? 'mymaster';
    const data: Node[] = [];
    const sentinels: Node[] = [];
    const group = new SentinelGroup(dir, masterName, data, sentinels);
    try {
      const masterPort = await freePort();
      data.push(await dataNode(dir, masterPort, null));
      for (let i = 0; i < (opts.replicas ?? 2); i++) data.push(await dataNode(dir, await freePort(), masterPort));
      for (let i = 0; i < 3; i++) sentinels.push(await sentinelNode(dir, await freePort(), masterName, masterPort));
      await group.waitSettled(masterPort, opts.replicas ?? 2);
    } catch (err) {
      await group.stop();
      throw err;
    }
    return group;
  }

  /** The master's port as the sentinels announce it. */
  async masterPort(): Promise<number> {
    const s = new Redis({ port: this.sentinels[0].port, host: '127.0.0.1', lazyConnect: true });
    try {
      await s.connect();
      const addr = (await s.call('SENTINEL', 'get-master-addr-by-name', this.masterName)) as [string, string] | null;
      return addr ? Number(addr[1]) : NaN;
    } finally {
      s.disconnect();
    }
  }

  /** SIGKILLs the current master: no shutdown, no final fsync. Returns its port. */
  async killMaster(): Promise<number> {
    const port = await this.masterPort();
    const node = this.data.find((n) => n.port === port);
    if (!node) throw new Error(`no data node on the master's port ${port}`);
    const exited = new Promise((r) => node.child.once('exit', r));
    node.child.kill('SIGKILL');
    await exited;
    return port;
  }

  /** Waits until every sentinel names a master other than `oldPort` (a replica was promoted). */
  async waitPromoted(oldPort: number, timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const port = await this.masterPort().catch(() => NaN);
      if (Number.isFinite(port) && port !== oldPort) return port;
      if (Date.now() > deadline) throw new Error(`no replica promoted within ${timeoutMs}ms`);
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    const all = [...this.sentinels, ...this.data].filter(
      (n) => n.child.exitCode === null && n.child.signalCode === null,
    );
    await Promise.all(
      all.map((n) => {
        const exited = new Promise((r) => n.child.once('exit', r));
        n.child.kill('SIGKILL');
        return exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Every sentinel sees the master, all its replicas and the other sentinels; the replicas are in sync. */
  private async waitSettled(masterPort: number, replicas: number): Promise<void> {
    const deadline = Date.now() + 60_000;
    const client = (port: number) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    const clients = this.sentinels.map((s) => client(s.port));
    const master = client(masterPort);
    try {
      for (;;) {
        const views = await Promise.all(
          clients.map(async (c) => ({
            replicas: ((await c.call('SENTINEL', 'replicas', this.masterName)) as unknown[]).length,
            sentinels: ((await c.call('SENTINEL', 'sentinels', this.masterName)) as unknown[]).length,
          })),
        );
        const info = await master.info('replication');
        const online = (info.match(/^slave\d+:.*state=online/gm) ?? []).length;
        if (online === replicas && views.every((v) => v.replicas === replicas && v.sentinels === 2)) return;
        if (Date.now() > deadline) throw new Error(`sentinel group not settled: ${JSON.stringify({ views, online })}`);
        await sleep(200);
      }
    } finally {
      for (const c of [...clients, master]) c.disconnect();
    }
  }
}

async function run(args: string[], port: number, dir: string): Promise<Node> {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  await new Promise<void>((ok, fail) => {
    child.once('error', (e) => fail(new Error(`could not start redis-server (is it on PATH?): ${e.message}`)));
    child.once('spawn', () => ok());
  });
  const deadline = Date.now() + 15_000;
  while (!(await isReachable('127.0.0.1', port))) {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited; see ${dir}`);
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within 15s`);
    await sleep(50);
  }
  return { port, child };
}

function dataNode(root: string, port: number, masterPort: number | null): Promise<Node> {
  const dir = join(root, `data-${port}`);
  mkdirSync(dir);
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
    '--logfile',
    'redis.log',
    '--replica-announce-ip',
    '127.0.0.1',
    ...(masterPort === null ? [] : ['--replicaof', '127.0.0.1', String(masterPort)]),
  ];
  return run(args, port, dir);
}

function sentinelNode(root: string, port: number, masterName: string, masterPort: number): Promise<Node> {
  const dir = join(root, `sentinel-${port}`);
  mkdirSync(dir);
  const conf = join(dir, 'sentinel.conf');
  // Sentinel rewrites its own config file (what it learned): it must be writable and its own.
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'logfile sentinel.log',
      'sentinel announce-ip 127.0.0.1',
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 10000`,
      `sentinel parallel-syncs ${masterName} 1`,
      '',
    ].join('\n'),
  );
  return run([conf, '--sentinel'], port, dir);
}

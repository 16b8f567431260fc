import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isReachable, stopRedisServer } from '#libs/redis';
import { freePort } from '../../test/support/redis-server-process.js';

/**
 * The chaos run's own redis-server, which it can crash and bring back on the same port and data folder.
 *
 * AOF with `appendfsync always`: Redis fsyncs the log before it answers a write, so everything the apps
 * were told is stored survives a SIGKILL. With `everysec` a write can be acknowledged while its fsync is
 * still pending (Redis postpones the write up to 2 s behind a slow fsync), so "no accepted batch lost"
 * would hold only most of the time; the harness must test the guarantee, not the odds. `noeviction`
 * as in production: BullMQ loses jobs under eviction.
 */
export class CrashableRedis {
  private child: ChildProcess | null = null;
  restarts = 0;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<CrashableRedis> {
    const redis = new CrashableRedis(await freePort(), mkdtempSync(join(tmpdir(), 'switchyard-chaos-redis-')));
    await redis.spawn();
    return redis;
  }

  /** SIGKILL: no SHUTDOWN, no final fsync or rewrite; what is on disk is what the AOF had. */
  async crash(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  /** Starts again on the same port and folder, replaying the AOF. */
  async restart(): Promise<void> {
    await this.crash();
    await this.spawn();
    this.restarts += 1;
  }

  async stop(): Promise<void> {
    if (this.child) await stopRedisServer(this.child);
    this.child = null;
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async spawn(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
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
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    await new Promise<void>((ok, fail) => {
      child.once('error', (e) => fail(new Error(`could not start redis-server (is it on PATH?): ${e.message}`)));
      child.once('spawn', () => ok());
    });
    this.child = child;
    const deadline = Date.now() + 30_000;
    // Listening can come before the AOF is replayed; until then Redis answers -LOADING, which ioredis's
    // ready check waits out, so the apps see the replayed data or nothing.
    while (!(await isReachable('127.0.0.1', this.port))) {
      if (child.exitCode !== null)
        throw new Error(`redis-server exited with code ${child.exitCode}; see ${this.dir}/redis.log`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on port ${this.port} within 30s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../../test/support/redis-server-process.js';
import { isReachable, stopRedisServer } from './embedded-redis.js';

describe('stopRedisServer', () => {
  it('stops a redis-server that refused the first SIGTERM while writing its initial AOF', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-stop-redis-'));
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--logfile', 'redis.log'],
      { stdio: 'ignore' },
    );
    const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    try {
      while (!(await isReachable('127.0.0.1', port))) await new Promise((r) => setTimeout(r, 50));
      await redis.connect();
      await redis.eval("for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'k' .. i, i) end", 0, 3000);
      // Each key written by the rewrite waits 500 µs: the first AOF takes about 1.5 s to write, and AOF switched on at
      // run time is the state a cluster replica is in after its full sync.
      await redis.config('SET', 'rdb-key-save-delay', '500');
      await redis.config('SET', 'appendonly', 'yes');
      redis.disconnect();

      expect(await stopRedisServer(child, { resendMs: 200, killAfterMs: 60_000 })).toBe('stopped');
      expect(child.exitCode).toBe(0);
      const log = readFileSync(join(dir, 'redis.log'), 'utf8');
      expect(log).toMatch(/Writing initial AOF, can't exit/);
      expect(log).toMatch(/ready to exit, bye bye/);
    } finally {
      redis.disconnect();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('kills one that is still running at the deadline', async () => {
    // A process that ignores SIGTERM, as a Redis refusing every shutdown would.
    const child = spawn(
      process.execPath,
      ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')"],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await new Promise((r) => child.stdout!.once('data', r));
    expect(await stopRedisServer(child, { resendMs: 50, killAfterMs: 300 })).toBe('killed');
    expect(child.signalCode).toBe('SIGKILL');
  });
});

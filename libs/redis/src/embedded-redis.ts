import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';

/** redis-server is not installed (not on PATH): the one thing `npm start` cannot provide itself. */
export class RedisServerNotFound extends Error {
  constructor() {
    super(
      'npm start needs Redis: REDIS_URL is unset or unreachable, and redis-server (to start a private one) is ' +
        'not on PATH. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`), ' +
        'set REDIS_URL=redis://host:6379 to use yours, or run everything in containers: ' +
        '`docker compose -f deploy/compose.yaml up` once deploy/secrets/admin_api_key holds a key (deploy/README.md).',
    );
    this.name = 'RedisServerNotFound';
  }
}

export interface EmbeddedRedis {
  url: string;
  /** See `stopRedisServer`: SIGTERM until it exits, SIGKILL at `killAfterMs`. */
  stop(opts?: { killAfterMs?: number }): Promise<'stopped' | 'killed'>;
}

/**
 * A private redis-server for `npm start` when no REDIS_URL is configured or reachable: data under
 * `dir`, AOF fsynced before each answer (nothing accepted is lost, even to a crash: see deploy/k8s/base/redis.conf),
 * noeviction, loopback only.
 */
export async function startEmbeddedRedis(dir: string, port: number): Promise<EmbeddedRedis> {
  const dataDir = resolve(dir);
  mkdirSync(dataDir, { recursive: true });
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
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
  const spawned = new Promise<void>((ok, fail) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'ENOENT' ? new RedisServerNotFound() : new Error(`could not start redis-server: ${e.message}`)),
    );
    child.once('spawn', () => ok());
  });
  await spawned;
  const deadline = Date.now() + 15_000;
  while (!(await isReachable('127.0.0.1', port))) {
    if (child.exitCode !== null)
      throw new Error(`redis-server exited with code ${child.exitCode}; see ${dataDir}/redis.log`);
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on port ${port} within 15s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop(opts) {
      return stopRedisServer(child, opts);
    },
  };
}

/**
 * Ends a redis-server child and resolves once it is gone: SIGTERM, sent again every `resendMs` while it runs, and SIGKILL
 * at `killAfterMs`. One SIGTERM is not enough: Redis refuses a shutdown while it writes its initial AOF ("Writing
 * initial AOF, can't exit."), keeps running and never tries again — a cluster replica right after its full sync is in
 * that state, as is a server whose AOF was just switched on. Asked again once the rewrite is done, it stops cleanly.
 * The kill is the last resort (with appendfsync always, nothing acknowledged is lost but that unfinished first AOF).
 * Resolves 'stopped' for a clean exit, 'killed' when the deadline forced it.
 */
export async function stopRedisServer(
  child: ChildProcess,
  { resendMs = 1_000, killAfterMs = 30_000 }: { resendMs?: number; killAfterMs?: number } = {},
): Promise<'stopped' | 'killed'> {
  if (child.exitCode !== null || child.signalCode !== null) return 'stopped';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let killed = false;
  child.kill('SIGTERM');
  const again = setInterval(() => child.kill('SIGTERM'), resendMs);
  const deadline = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, killAfterMs);
  try {
    await exited;
  } finally {
    clearInterval(again);
    clearTimeout(deadline);
  }
  return killed ? 'killed' : 'stopped';
}

export function isReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

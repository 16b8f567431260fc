import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedRedis } from '#libs/redis';

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * A private redis-server for tests on a free loopback port, so a test run never touches a user's
 * data. Same settings as the one `npm start` embeds (AOF, noeviction), in a temporary folder.
 */
export async function startTestRedis(opts: { dir?: string; port?: number } = {}): Promise<TestRedis> {
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'switchyard-redis-'));
  const redis = await startEmbeddedRedis(dir, port);
  return {
    url: redis.url,
    port,
    async stop() {
      await redis.stop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

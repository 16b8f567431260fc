import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedRedis } from '#libs/redis';

/** Every port this process has handed out: the kernel may offer a closed port again at once, and two servers of one test must never get the same one. */
const handedOut = new Set<number>();

function listen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/** Asks the kernel for a free loopback port that this process has not handed out before. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/**
 * `n` distinct free loopback ports, none handed out before by this process. Every listener stays open until all
 * are drawn, so the kernel cannot offer one twice. With `busOffset` (Redis Cluster's bus port is the port + 10000),
 * port + offset is a valid port, free, and clear of every other port drawn, its bus included.
 */
export async function freePorts(n: number, opts: { busOffset?: number } = {}): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n; tries++) {
      if (tries > 1000) throw new Error(`could not find ${n} free loopback ports`);
      const srv = await listen(0);
      if (!srv) continue;
      held.push(srv);
      const port = (srv.address() as AddressInfo).port;
      if (handedOut.has(port)) continue;
      if (opts.busOffset !== undefined) {
        const bus = port + opts.busOffset;
        if (bus > 65535 || handedOut.has(bus)) continue;
        const busSrv = await listen(bus);
        if (!busSrv) continue;
        held.push(busSrv);
        handedOut.add(bus);
      }
      handedOut.add(port);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
  return ports;
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

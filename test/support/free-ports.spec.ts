import { describe, expect, it } from '@jest/globals';
import { createServer } from 'node:net';
import { freePort, freePorts } from './redis-server-process.js';

describe('freePorts', () => {
  it('never hands out a port twice in one process, even one the kernel offers again once closed', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const port = await freePort();
      expect(seen.has(port)).toBe(false);
      seen.add(port);
    }
  });

  it('draws distinct ports whose Redis Cluster bus ports are valid, free and clear of every other drawn port', async () => {
    const ports = await freePorts(6, { busOffset: 10_000 });
    const buses = ports.map((p) => p + 10_000);
    expect(new Set([...ports, ...buses]).size).toBe(12);
    for (const bus of buses) expect(bus).toBeLessThanOrEqual(65_535);
    // Each port and bus port is free now: a listener binds it.
    for (const port of [...ports, ...buses]) {
      const srv = createServer();
      await new Promise<void>((ok, fail) => srv.once('error', fail).listen(port, '127.0.0.1', ok));
      await new Promise((r) => srv.close(r));
    }
    expect(await freePorts(200)).not.toEqual(expect.arrayContaining([ports[0]]));
  });
});

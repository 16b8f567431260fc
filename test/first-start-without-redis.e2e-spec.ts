import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureGeneratedModel } from '#libs/gguf';
import { freePort } from './support/redis-server-process.js';
import { startApp } from './support/system-under-test.js';

/** Issue 19: `npm start` on a machine without Redis threw an uncaught exception with a stack trace. */
describe('first start on a machine without Redis', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-no-redis-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('npm start says in one line what to install or set, and exits non-zero without a stack trace', async () => {
    // An empty PATH: no redis-server to find (node itself is started by its absolute path). No REDIS_URL.
    const emptyBin = join(dataDir, 'bin');
    const launcher = startApp('launcher', {
      PATH: emptyBin,
      SWITCHYARD_DATA_DIR: dataDir,
      SWITCHYARD_REDIS_PORT: String(await freePort()),
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
    });
    const code = await new Promise<number | null>((resolve) => launcher.child.once('exit', resolve));

    expect(code).not.toBe(0);
    expect(code).not.toBeNull(); // exited, not killed
    const lines = launcher.output.join('').trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    // The envelope every line has (docs/operations.md): a log pipeline reads the launcher's fatal line too.
    expect(line).toMatchObject({ level: 'fatal', context: 'launcher', pid: launcher.child.pid });
    expect(typeof line.timestamp).toBe('number');
    const { msg } = line.message;
    expect(msg).toMatch(/REDIS_URL is unset .*redis-server .* not on PATH/);
    expect(msg).toContain('apt-get install redis-server');
    expect(msg).toContain('brew install redis');
    expect(msg).toContain('REDIS_URL');
    expect(msg).toContain('deploy/compose.yaml');
    expect(lines[0]).not.toMatch(/\bat .*:\d+:\d+|node:internal|Error: spawn/);
  });
});

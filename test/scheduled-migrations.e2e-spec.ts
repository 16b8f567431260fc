import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep } from './support/system-under-test.js';
import { gitIn } from './support/git-in.js';
import { useSystem } from './support/use-system.js';
import { globalKeyPrefix } from '#libs/redis';

/**
 * A nightly migration over a repository (here every 1.5 s) submits only what changed: each file whose
 * instruction and content are the same as when its item last completed is skipped. The OpenAI double plays
 * a model that migrates correctly, except a file marked UNMIGRATABLE, whose answer never parses.
 */
describe('scheduled migrations over a repository', () => {
  let repo: string;

  const git = gitIn(() => repo);
  const commit = (files: Record<string, string>) => {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(repo, path)), { recursive: true });
      writeFileSync(join(repo, path), content);
    }
    git('add', '.');
    git('commit', '-qm', 'change');
  };

  const sys = useSystem(
    async ({ double }) => {
      double.setResponder((body) => {
        const prompt = JSON.stringify(body);
        const path = /File: (\S+?)\\n/.exec(prompt)?.[1];
        if (!path) return null;
        return prompt.includes('UNMIGRATABLE')
          ? 'export default function ( {'
          : `export default ${JSON.stringify(path)};\n`;
      });
      return {
        LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
        MAX_OUTPUT_TOKENS: '64',
        OPENAI_BASE_URL: double.url,
        OPENAI_API_KEY: 'test-key',
        CLOUD_MAX_SENSITIVITY: 'internal',
        CLOUD_LATENCY_MS: '100',
        CLOUD_TOKENS_PER_SEC: '2000',
        ESCALATION_INTERVAL_MS: '60000',
        SCHEDULE_MIN_INTERVAL_MS: '1000',
      };
    },
    { double: { apiKey: 'test-key' } },
  );
  sys.onStop(() => sys.client.request('DELETE', '/v1/schedules/nightly-esm'));

  beforeAll(async () => {
    repo = mkdtempSync(join(tmpdir(), 'switchyard-nightly-'));
    git('init', '-q', '-b', 'main');
    commit({
      'src/a.js': 'module.exports = 1;\n',
      'src/b.js': 'module.exports = 2;\n',
      'src/c.js': 'module.exports = 3;\n',
      'README.md': '# not migrated\n',
    });
    // Schedules read only registered repositories, as batches do (issue 13 §5).
    expect((await sys.client.request('POST', '/v1/repositories', { root: repo })).status).toBe(201);
  });

  afterAll(() => {
    if (repo) rmSync(repo, { recursive: true, force: true });
  });

  /** The first run of the schedule that fired after `t` (epoch ms), once it is recorded. */
  async function firstRunAfter(t: number): Promise<any> {
    for (let i = 0; i < 300; i++) {
      const { json } = await sys.client.request('GET', '/v1/schedules/nightly-esm');
      const after = json.runs.filter((r: any) => Date.parse(r.firedAt) > t);
      if (after.length > 0) return after.at(-1); // runs are newest first
      await sleep(100);
    }
    throw new Error(`no run of nightly-esm after ${new Date(t).toISOString()}`);
  }
  const itemIds = async (batchId: string) =>
    (await sys.client.request('GET', `/v1/batches/${batchId}/items`)).json.items.map((i: any) => i.id).sort();

  it('migrates every file first, then only what changed; a file whose item failed is submitted again', async () => {
    const created = await sys.client.request('POST', '/v1/schedules', {
      name: 'nightly-esm',
      every: 1500,
      batch: {
        kind: 'code-migration',
        sensitivity: 'public',
        // Local first (cheapest); its random answers never parse, so each item escalates to the double.
        deadline: 'PT10M',
        task: { instruction: 'Convert CommonJS to ES modules', maxTokens: 64 },
        source: { repo, include: ['src/**/*.js'] },
      },
    });
    expect(created.status).toBe(201);

    // First run: every file.
    const first = await firstRunAfter(0);
    expect(first).toMatchObject({ submitted: 3, skippedUnchanged: 0 });
    const firstBatch = await sys.client.waitFinished(first.batchId);
    expect(firstBatch).toMatchObject({ status: 'completed', origin: { schedule: 'nightly-esm', skippedUnchanged: 0 } });

    // Nothing changed since those items completed: the run skips all three and makes no batch.
    const unchanged = await firstRunAfter(Date.parse(firstBatch.finishedAt));
    expect(unchanged).toMatchObject({ batchId: null, submitted: 0, skippedUnchanged: 3 });
    expect(unchanged.error).toBeUndefined();

    // One file changes: the next run submits only it.
    commit({ 'src/b.js': 'module.exports = 22;\n' });
    const afterChange = await firstRunAfter(Date.now());
    expect(afterChange).toMatchObject({ submitted: 1, skippedUnchanged: 2 });
    expect(await itemIds(afterChange.batchId)).toEqual(['src/b.js']);
    const changedBatch = await sys.client.waitFinished(afterChange.batchId);
    expect(changedBatch).toMatchObject({ status: 'completed', origin: { skippedUnchanged: 2 } });
    const sent = sys.double
      .completionRequests()
      .map((r) => JSON.stringify(r.body))
      .filter((b) => b.includes('module.exports = 22;'));
    expect(sent.length).toBeGreaterThan(0);

    // A file whose item fails is not remembered: every later run submits it again until it completes.
    commit({ 'src/c.js': 'module.exports = 3; // UNMIGRATABLE\n' });
    const failing = await firstRunAfter(Date.now());
    expect(failing).toMatchObject({ submitted: 1, skippedUnchanged: 2 });
    expect(await itemIds(failing.batchId)).toEqual(['src/c.js']);
    const failedBatch = await sys.client.waitFinished(failing.batchId);
    expect(failedBatch.status).toBe('failed');
    const retried = await firstRunAfter(Date.parse(failedBatch.finishedAt));
    expect(retried).toMatchObject({ submitted: 1, skippedUnchanged: 2 });
    expect(await itemIds(retried.batchId)).toEqual(['src/c.js']);

    // A file deleted from the repository leaves the remembered hashes at the next run (they would grow for ever).
    const { redis, config } = sys.internals();
    const remembered = `${globalKeyPrefix(config.prefix)}:schedule:nightly-esm:hashes`;
    expect(await redis.hexists(remembered, 'src/a.js')).toBe(1);
    git('rm', '-q', 'src/a.js');
    git('commit', '-qm', 'remove a');
    const afterRemoval = await firstRunAfter(Date.now());
    expect(afterRemoval).toMatchObject({ submitted: 1, skippedUnchanged: 1 });
    expect(await redis.hexists(remembered, 'src/a.js')).toBe(0);
    expect(await redis.hexists(remembered, 'src/b.js')).toBe(1);

    const view = (await sys.client.request('GET', '/v1/schedules/nightly-esm')).json;
    expect(view.runs.length).toBeGreaterThanOrEqual(5);
    for (const run of view.runs) expect(typeof run.skippedUnchanged).toBe('number');
  });

  it('a run that outlasts the period is not duplicated: later firings skip the files it is still migrating', async () => {
    await sys.client.request('DELETE', '/v1/schedules/nightly-esm'); // the test above's: its firings would interleave
    commit({ 'lib/x.js': 'module.exports = "x";\n', 'lib/y.js': 'module.exports = "y";\n' });
    // Every answer takes 3 s, so the first run's batch is still going while the schedule fires every second.
    sys.double.setLatency(3000);
    try {
      const created = await sys.client.request('POST', '/v1/schedules', {
        name: 'overlapping',
        every: 1000,
        batch: {
          kind: 'code-migration',
          sensitivity: 'public',
          deadline: 'PT10M',
          task: { instruction: 'Convert CommonJS to ES modules', maxTokens: 64 },
          source: { repo, include: ['lib/**/*.js'] },
        },
      });
      expect(created.status).toBe(201);
      let view = (await sys.client.request('GET', '/v1/schedules/overlapping')).json;
      for (let i = 0; i < 300 && !view.runs.some((r: any) => r.batchId); i++) {
        await sleep(100);
        view = (await sys.client.request('GET', '/v1/schedules/overlapping')).json;
      }
      const first = view.runs.find((r: any) => r.batchId);
      expect(first).toMatchObject({ submitted: 2, skippedUnchanged: 0 });
      const finished = await sys.client.waitFinished(first.batchId);
      expect(finished.status).toBe('completed');
      view = (await sys.client.request('GET', '/v1/schedules/overlapping')).json;
      await sys.client.request('DELETE', '/v1/schedules/overlapping');
      // The firings while the first batch ran: each found both files being migrated as they are, and made no batch.
      const during = view.runs.filter(
        (r: any) => r.firedAt > first.firedAt && Date.parse(r.firedAt) < Date.parse(finished.finishedAt),
      );
      expect(during.length).toBeGreaterThan(0);
      for (const run of during) expect(run).toMatchObject({ batchId: null, submitted: 0, skippedUnchanged: 2 });
    } finally {
      sys.double.setLatency(0);
    }
  });

  it('refuses a schedule whose template asks for an output branch, naming batch.output', async () => {
    const res = await sys.client.request('POST', '/v1/schedules', {
      name: 'with-branch',
      every: 60_000,
      batch: {
        kind: 'code-migration',
        sensitivity: 'public',
        deadline: 'PT1H',
        task: { instruction: 'x' },
        source: { repo },
        output: { branch: 'nightly' },
      },
    });
    expect([res.status, res.json.field]).toEqual([400, 'batch.output']);
  });

  it('refuses a schedule over a repository nobody registered, naming batch.source.repo', async () => {
    const other = mkdtempSync(join(tmpdir(), 'switchyard-unregistered-'));
    try {
      execFileSync('git', ['init', '-q'], { cwd: other });
      const res = await sys.client.request('POST', '/v1/schedules', {
        name: 'unregistered',
        every: 60_000,
        batch: {
          kind: 'code-migration',
          sensitivity: 'public',
          deadline: 'PT1H',
          task: { instruction: 'x' },
          source: { repo: other },
        },
      });
      expect([res.status, res.json.field]).toEqual([400, 'batch.source.repo']);
      expect((await sys.client.request('GET', '/v1/schedules/unregistered')).status).toBe(404);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

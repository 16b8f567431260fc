import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { BatchStore, type NewItem } from '#libs/batches';
import { BranchOutputs } from '#libs/batches';
import { JobQueue, OUTPUTS_QUEUE, queueName, bullPrefix } from '#libs/queue';
import { DEFAULT_BRANCH_AUTHOR } from '#libs/jobs';
import { BranchOutputWriter } from './branch-output-writer.js';
import { gitIn } from '../../../test/support/git-in.js';

const item = (itemId: string): NewItem => ({
  itemId,
  sensitivity: 'internal',
  pii: { declared: 'internal', categories: [], raised: false },
  route: { target: 'local', provider: 'llama', model: 'm', reason: 'test', at: new Date().toISOString() },
  workTokens: 1,
});

/** The writer against real Redis, a real queue and a real repository: the finish trigger, then crash-safety. */
describe('BranchOutputWriter', () => {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  let redis: Redis;
  let queue: Queue;
  let jobs: JobQueue;
  let store: BatchStore;
  let outputs: BranchOutputs;
  let repo: string;
  const git = gitIn(() => repo);

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    queue = new Queue(queueName(OUTPUTS_QUEUE), {
      connection: { url: process.env.REDIS_URL! },
      prefix: bullPrefix(prefix),
    });
    jobs = new JobQueue(new Map([[queueName(OUTPUTS_QUEUE), queue]]), { url: process.env.REDIS_URL! }, prefix, {
      lockDurationMs: 5000,
      stalledIntervalMs: 1000,
      maxStalledCount: 1,
      attempts: 1,
      backoffMs: 10,
    });
    store = new BatchStore(redis, prefix);
    outputs = new BranchOutputs(redis, prefix, store, jobs);
    outputs.watch((batchId, err) => {
      throw new Error(`enqueue failed for ${batchId}: ${String(err)}`);
    });
    repo = mkdtempSync(join(tmpdir(), 'switchyard-writer-'));
    git('init', '-q', '-b', 'main');
    for (const [path, content] of Object.entries({
      'a.js': 'module.exports = 1;\n',
      'b.js': 'module.exports = 2;\n',
    })) {
      mkdirSync(dirname(join(repo, path)), { recursive: true });
      writeFileSync(join(repo, path), content);
    }
    git('add', '.');
    git('commit', '-qm', 'initial');
  });
  afterAll(async () => {
    await queue.close();
    await redis.quit();
    rmSync(repo, { recursive: true, force: true });
  });

  it('is enqueued once when the batch finishes, writes completed files only, and a repeat after a crash finds its own commit', async () => {
    const base = git('rev-parse', 'HEAD').trim();
    const { id } = await store.create(
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { instruction: 'To ES modules' },
        createdAt: Date.now(),
        output: { branch: 'esm', repo, base },
      },
      [item('a.js'), item('b.js')],
    );
    const writer = new BranchOutputWriter(jobs, store, outputs, DEFAULT_BRANCH_AUTHOR);
    expect(await writer.write({ data: { batchId: id }, isLastAttempt: false })).toBe('not-finished');

    await store.transition(id, 0, ['queued'], 'running');
    await store.transition(id, 0, ['running'], 'completed', { result: 'export default 1;\n' });
    expect((await jobs.depth(OUTPUTS_QUEUE)).waiting).toBe(0);
    await store.transition(id, 1, ['queued'], 'failed', { error: 'did not parse' }); // the last open item
    await new Promise((r) => setTimeout(r, 200)); // the trigger enqueues asynchronously
    expect((await jobs.depth(OUTPUTS_QUEUE)).waiting).toBe(1);
    expect(await outputs.enqueueFinished()).toBe(1); // the sweep adds the same job id: still one
    expect((await jobs.depth(OUTPUTS_QUEUE)).waiting).toBe(1);

    expect(await writer.write({ data: { batchId: id }, isLastAttempt: false })).toBe('written');
    const { output } = (await store.get(id))!;
    expect(output).toMatchObject({
      branch: 'esm',
      base,
      status: 'written',
      files: 1,
      notWritten: ['b.js'],
      error: null,
    });
    expect(git('rev-parse', 'esm').trim()).toBe(output!.commit);
    expect(git('show', 'esm:a.js')).toBe('export default 1;\n');
    expect(git('show', 'esm:b.js')).toBe('module.exports = 2;\n');
    expect(await writer.write({ data: { batchId: id }, isLastAttempt: false })).toBe('not-pending');
    expect(await outputs.enqueueFinished()).toBe(0);
    // A crash between recording the outcome and leaving the pending set (two slots on a Cluster): the sweep
    // takes it off without writing again.
    await redis.sadd(`{${prefix}:sy}:outputs:pending`, id);
    expect(await outputs.enqueueFinished()).toBe(0);
    expect(await redis.sismember(`{${prefix}:sy}:outputs:pending`, id)).toBe(0);

    // A crash after update-ref but before the outcome was recorded: the job runs again.
    await redis.hset(`${prefix}:sy:batch:{${id}}`, 'outputStatus', 'pending');
    await redis.sadd(`{${prefix}:sy}:outputs:pending`, id);
    expect(await writer.write({ data: { batchId: id }, isLastAttempt: false })).toBe('written');
    expect((await store.get(id))!.output!.commit).toBe(output!.commit);
    expect(git('rev-list', '--count', 'esm').trim()).toBe('2');
  });

  it('the sweep finds a finished batch whose trigger was lost (the process that finished it crashed)', async () => {
    const base = git('rev-parse', 'main').trim();
    const { id } = await store.create(
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { instruction: 'x' },
        createdAt: Date.now(),
        output: { branch: 'swept', repo, base },
      },
      [item('a.js')],
    );
    const before = (await jobs.depth(OUTPUTS_QUEUE)).waiting;
    const elsewhere = new BatchStore(redis, prefix); // no listener: as if the process died right after the transition
    await elsewhere.transition(id, 0, ['queued'], 'running');
    await elsewhere.transition(id, 0, ['running'], 'completed', { result: 'export default 2;\n' });
    expect((await jobs.depth(OUTPUTS_QUEUE)).waiting).toBe(before);
    expect(await outputs.enqueueFinished()).toBe(1);
    expect((await jobs.depth(OUTPUTS_QUEUE)).waiting).toBe(before + 1);
  });

  it('records a failure, without a branch, when no item completed', async () => {
    const base = git('rev-parse', 'main').trim();
    const { id } = await store.create(
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { instruction: 'x' },
        createdAt: Date.now(),
        output: { branch: 'nothing', repo, base },
      },
      [item('a.js')],
    );
    await store.transition(id, 0, ['queued'], 'cancelled');
    const writer = new BranchOutputWriter(jobs, store, outputs, DEFAULT_BRANCH_AUTHOR);
    expect(await writer.write({ data: { batchId: id }, isLastAttempt: false })).toBe('failed');
    expect((await store.get(id))!.output).toMatchObject({ status: 'failed', files: 0, notWritten: ['a.js'] });
    expect(git('branch', '--list', 'nothing')).toBe('');
  });

  it('refuses to write once the repository is no longer registered for the batch’s tenant', async () => {
    const base = git('rev-parse', 'main').trim();
    const { id } = await store.create(
      {
        kind: 'code-migration',
        sensitivity: 'internal',
        deadlineAt: Date.now() + 60_000,
        task: { instruction: 'x' },
        createdAt: Date.now(),
        tenant: 'acme',
        output: { branch: 'unregistered', repo, base },
      },
      [item('a.js')],
    );
    await store.transition(id, 0, ['queued'], 'running');
    await store.transition(id, 0, ['running'], 'completed', { result: 'export default 1;\n' });
    const asked: Array<[string, string | null]> = [];
    const gate = {
      authorize: async (path: string, tenant: string | null): Promise<string> => {
        asked.push([path, tenant]);
        throw new Error('is not a repository registered for this tenant');
      },
    };
    const refusing = new BranchOutputs(redis, prefix, store, jobs, gate);
    const writer = new BranchOutputWriter(jobs, store, refusing, DEFAULT_BRANCH_AUTHOR);
    expect(await writer.write({ data: { batchId: id }, isLastAttempt: false })).toBe('failed');
    expect(asked).toEqual([[repo, 'acme']]);
    expect((await store.get(id))!.output).toMatchObject({
      status: 'failed',
      files: 0,
      notWritten: ['a.js'],
      error: expect.stringMatching(/^source\.repo is not a repository registered/),
    });
    expect(git('branch', '--list', 'unregistered')).toBe('');
  });
});

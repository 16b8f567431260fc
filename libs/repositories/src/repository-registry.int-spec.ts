import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RepositoryRegistry } from './repository-registry.js';

describe('registered repositories (real Redis, real git)', () => {
  let redis: Redis;
  let dir: string;
  let repo: string;
  let other: string;

  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'switchyard-registry-')));
    repo = join(dir, 'repo');
    other = join(dir, 'other');
    for (const r of [repo, other]) {
      mkdirSync(join(r, 'sub'), { recursive: true });
      execFileSync('git', ['init', '-q'], { cwd: r });
    }
    // A link inside the registered repository that points at another one.
    symlinkSync(other, join(repo, 'escape'));
  });
  afterAll(async () => {
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  const registry = () => new RepositoryRegistry(redis, `t-${randomUUID().slice(0, 8)}`);
  const refusal = { name: 'RepoSourceError', field: 'source.repo' };

  it('answers the real path of a registered repository, or a directory inside it, for its tenant', async () => {
    const r = registry();
    await r.register({ root: repo, tenant: 'acme' });
    expect(await r.authorize(repo, 'acme')).toBe(repo);
    expect(await r.authorize(join(repo, 'sub'), 'acme')).toBe(join(repo, 'sub'));
    expect(await r.authorize(join(repo, 'sub', '..'), 'acme')).toBe(repo);
    await expect(r.authorize(repo, 'globex')).rejects.toMatchObject(refusal);
    await expect(r.authorize(repo, null)).rejects.toMatchObject(refusal);
  });

  it('refuses what is not registered, however it is spelled: a link out, "..", a relative path, a missing one', async () => {
    const r = registry();
    await r.register({ root: repo });
    for (const path of [
      join(repo, 'escape'),
      join(repo, '..', 'other'),
      other,
      '.',
      'repo',
      join(dir, 'missing'),
      dir,
    ]) {
      await expect(r.authorize(path, 'anyone')).rejects.toMatchObject(refusal);
    }
    expect(await r.authorize(repo, null)).toBe(repo);
  });

  it('registers only the root of a git repository, once per tenant, and forgets it when removed', async () => {
    const r = registry();
    await expect(r.register({ root: 'relative' })).rejects.toMatchObject({ field: 'root' });
    await expect(r.register({ root: join(repo, 'sub') })).rejects.toMatchObject({ field: 'root' });
    await expect(r.register({ root: dir })).rejects.toMatchObject({ field: 'root' });
    await expect(r.register({ root: repo, tenant: 7 })).rejects.toMatchObject({ field: 'tenant' });
    const first = await r.register({ root: join(repo, 'sub', '..'), tenant: 'acme' });
    expect(first).toMatchObject({ root: repo, tenant: 'acme', id: expect.stringMatching(/^repo_/) });
    expect((await r.register({ root: repo, tenant: 'acme' })).id).toBe(first.id);
    expect(await r.list()).toHaveLength(1);
    expect(await r.remove(first.id)).toMatchObject({ id: first.id });
    await expect(r.authorize(repo, 'acme')).rejects.toMatchObject(refusal);
    expect(await r.remove(first.id)).toBeNull();
  });
});

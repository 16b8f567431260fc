import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BranchOutputError, checkOutputBranch, commitToNewBranch, parseGitIdentity } from './branch-output.js';
import { gitIn } from '../../../../test/support/git-in.js';

describe('branch output through git plumbing', () => {
  let repo: string;
  const git = gitIn(() => repo);
  const write = (path: string, content: string) => {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), content);
  };

  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), 'switchyard-branch-spec-'));
    git('init', '-q', '-b', 'main');
    write('src/a.js', 'module.exports = 1;\n');
    write('bin/run.js', '#!/usr/bin/env node\nrequire("../src/a");\n');
    chmodSync(join(repo, 'bin/run.js'), 0o755);
    git('add', '.');
    git('commit', '-qm', 'initial');
  });
  afterEach(() => rmSync(repo, { recursive: true, force: true }));

  const request = (base: string) => ({
    repo,
    base,
    branch: 'switchyard/esm',
    files: [
      { path: 'src/a.js', content: 'export default 1;\n' },
      { path: 'bin/run.js', content: '#!/usr/bin/env node\nimport "../src/a.js";\n' },
    ],
    message: 'Migrate to ES modules',
    author: { name: 'Switchyard', email: 'switchyard@localhost' },
    date: Date.UTC(2026, 10, 23, 3, 0, 0),
  });

  it('creates the branch at a commit on top of the base, leaving HEAD, index and an uncommitted change alone', async () => {
    const base = git('rev-parse', 'HEAD').trim();
    write('src/a.js', 'module.exports = 2; // work in progress\n');
    git('add', 'src/a.js');
    write('notes.txt', 'untracked\n');
    const before = {
      head: git('symbolic-ref', 'HEAD'),
      status: git('status', '--porcelain'),
      index: readFileSync(join(repo, '.git/index')),
    };

    const { commit, created } = await commitToNewBranch(request(base));

    expect(created).toBe(true);
    expect(git('rev-parse', 'switchyard/esm').trim()).toBe(commit);
    expect(git('rev-parse', `${commit}^`).trim()).toBe(base);
    expect(git('show', 'switchyard/esm:src/a.js')).toBe('export default 1;\n');
    expect(git('ls-tree', 'switchyard/esm', 'bin/run.js')).toMatch(/^100755 /); // the mode is kept
    expect(git('log', '-1', '--format=%an <%ae>|%s', 'switchyard/esm').trim()).toBe(
      'Switchyard <switchyard@localhost>|Migrate to ES modules',
    );
    expect(git('symbolic-ref', 'HEAD')).toBe(before.head);
    expect(git('rev-parse', 'HEAD').trim()).toBe(base);
    expect(git('status', '--porcelain')).toBe(before.status);
    expect(readFileSync(join(repo, '.git/index')).equals(before.index)).toBe(true);
    expect(readFileSync(join(repo, 'src/a.js'), 'utf8')).toBe('module.exports = 2; // work in progress\n');
    expect(git('worktree', 'list').trim().split('\n')).toHaveLength(1);
  });

  it('stores each file as given, whatever the attributes of its path say (no line-ending conversion, no filter)', async () => {
    write('.gitattributes', '* text=auto eol=lf\n*.txt filter=upper\n');
    git('add', '.gitattributes');
    git('commit', '-qm', 'attributes');
    git('config', 'filter.upper.clean', 'tr a-z A-Z');
    const base = git('rev-parse', 'HEAD').trim();
    const files = [
      { path: 'src/a.js', content: 'export default 1;\r\n' },
      { path: 'notes.txt', content: 'lower case\n' },
      { path: 'src/new/empty.js', content: '' },
    ];
    const { commit } = await commitToNewBranch({ ...request(base), files });
    for (const f of files) expect(git('cat-file', 'blob', `${commit}:${f.path}`)).toBe(f.content);
    expect(git('diff', '--name-only', base, commit).trim().split('\n').sort()).toEqual(
      ['notes.txt', 'src/a.js', 'src/new/empty.js'].sort(),
    );
  });

  it('running twice makes the same commit and does not fail because the branch now exists', async () => {
    const base = git('rev-parse', 'HEAD').trim();
    const first = await commitToNewBranch(request(base));
    const second = await commitToNewBranch(request(base));
    expect(second).toEqual({ commit: first.commit, created: false });
    expect(git('rev-list', '--count', 'switchyard/esm').trim()).toBe('2');
  });

  it('refuses to move a branch someone else created meanwhile', async () => {
    const base = git('rev-parse', 'HEAD').trim();
    git('branch', 'switchyard/esm');
    await expect(commitToNewBranch(request(base))).rejects.toBeInstanceOf(BranchOutputError);
    expect(git('rev-parse', 'switchyard/esm').trim()).toBe(base);
  });

  it.each(['bad..name', '@{-1}', '-dash', 'HEAD', 'ends.lock', 'sp ace', 'main', '@', 'refs/heads/main', 'master'])(
    'rejects %s as an output branch, naming output.branch',
    async (name) => {
      await expect(checkOutputBranch(repo, name)).rejects.toMatchObject({ field: 'output.branch' });
    },
  );

  it('rejects the checked-out branch, an existing tag and an existing branch, naming output.branch', async () => {
    git('checkout', '-q', '-b', 'work');
    git('tag', 'v1');
    for (const name of ['work', 'v1', 'main'])
      await expect(checkOutputBranch(repo, name)).rejects.toMatchObject({ field: 'output.branch' });
  });

  it('refuses at write time what submission refuses, and paths at or under a symbolic link of the base tree', async () => {
    symlinkSync('/etc', join(repo, 'linked'));
    symlinkSync('/etc/hostname', join(repo, 'src/host.js'));
    git('add', '.');
    git('commit', '-qm', 'links');
    const base = git('rev-parse', 'HEAD').trim();
    const attempts = [
      { ...request(base), branch: 'main' },
      { ...request(base), branch: 'refs/heads/x' },
      { ...request(base), files: [{ path: '../../etc/evil.json', content: '{}' }] },
      { ...request(base), files: [{ path: '/etc/abs.json', content: '{}' }] },
      { ...request(base), files: [{ path: 'linked/passwd', content: 'x' }] },
      { ...request(base), files: [{ path: 'src/host.js', content: 'export {};' }] },
    ];
    for (const attempt of attempts) await expect(commitToNewBranch(attempt)).rejects.toBeInstanceOf(BranchOutputError);
    expect(git('branch', '--list').trim().split('\n')).toHaveLength(1);
  });

  it('accepts a new, well-formed branch name', async () => {
    await expect(checkOutputBranch(repo, 'switchyard/esm-2026')).resolves.toBeUndefined();
  });

  it('reads an author as "Name <email>"', () => {
    expect(parseGitIdentity('Migration Bot <bot@example.com>')).toEqual({
      name: 'Migration Bot',
      email: 'bot@example.com',
    });
    expect(parseGitIdentity('no email')).toBeNull();
  });
});

import { afterEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { batchPatch, unifiedDiff, type FileChange } from './unified-diff.js';

// Each test gets a throwaway repository; the user's git configuration (autocrlf, hooks) stays out of it.
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@t',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@t',
};
const repos: string[] = [];
afterEach(() => repos.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A new repository with these files committed, and the patch written to `.patch` (left untracked). */
function repoWith(files: { path: string; content: string; mode?: number }[], patch: string): string {
  const repo = mkdtempSync(join(tmpdir(), 'unified-diff-'));
  repos.push(repo);
  git(repo, 'init', '-q');
  for (const file of files) {
    mkdirSync(dirname(join(repo, file.path)), { recursive: true });
    writeFileSync(join(repo, file.path), file.content, { mode: file.mode ?? 0o644 });
  }
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '--allow-empty', '-m', 'before');
  writeFileSync(join(repo, '.patch'), patch);
  return repo;
}

/** Commits every `before` that exists, applies the patch with `git apply`, and returns the files' bytes after it. */
function applyWithGit(files: FileChange[], patch: string): Map<string, Buffer | null> {
  const repo = repoWith(
    files.flatMap(({ path, before }) => (before === null ? [] : [{ path, content: before }])),
    patch,
  );
  git(repo, 'apply', '--check', '.patch');
  git(repo, 'apply', '.patch');
  return new Map(
    files.map((file) => [file.path, existsSync(join(repo, file.path)) ? readFileSync(join(repo, file.path)) : null]),
  );
}

function expectGitToProduce(files: FileChange[]): string {
  const patch = batchPatch(files);
  const result = applyWithGit(files, patch);
  for (const file of files) {
    const actual = result.get(file.path);
    if (file.after === null) expect(actual).toBeNull();
    else expect(actual?.equals(Buffer.from(file.after, 'utf8'))).toBe(true);
  }
  return patch;
}

const lines = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}\n`).join('');

describe('unifiedDiff', () => {
  it('prints the header, blob ids and a hunk with three lines of context, as git does', () => {
    const before = lines(1, 10);
    const after = before.replace('line 5\n', 'line five\n');
    const patch = unifiedDiff('src/a.ts', before, after);
    const blob = (text: string) =>
      execFileSync('git', ['hash-object', '--stdin'], { input: text, env: GIT_ENV, encoding: 'utf8' }).trim();
    expect(patch).toBe(
      'diff --git a/src/a.ts b/src/a.ts\n' +
        `index ${blob(before)}..${blob(after)}\n` +
        '--- a/src/a.ts\n+++ b/src/a.ts\n' +
        '@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n',
    );
    expectGitToProduce([{ path: 'src/a.ts', before, after }]);
  });

  it('is empty for an unchanged file', () => {
    expect(unifiedDiff('a.ts', 'x\n', 'x\n')).toBe('');
  });

  it('applies changes at the start and the end of a file', () => {
    const before = lines(1, 20);
    expectGitToProduce([
      { path: 'added.txt', before, after: `first\n${before}last\n` },
      { path: 'removed.txt', before, after: lines(2, 19) },
    ]);
  });

  it('splits distant changes into separate hunks and joins close ones', () => {
    const before = lines(1, 40);
    const after = before.replace('line 3\n', 'three\n').replace('line 10\n', 'ten\n').replace('line 30\n', 'thirty\n');
    const patch = expectGitToProduce([{ path: 'a.txt', before, after }]);
    // 3 and 10 are 6 unchanged lines apart: their contexts touch, one hunk; 30 is far: a second.
    expect(patch.match(/^@@ /gm)).toHaveLength(2);
    expect(patch).toContain('@@ -1,13 +1,13 @@');
    expect(patch).toContain('@@ -27,7 +27,7 @@');
  });

  it('marks a missing final newline on either side and in context', () => {
    expectGitToProduce([
      { path: 'drops-newline.txt', before: 'a\nb\n', after: 'a\nb' },
      { path: 'adds-newline.txt', before: 'a\nb', after: 'a\nb\n' },
      { path: 'keeps-none.txt', before: 'a\nb\nc', after: 'A\nb\nc' },
      { path: 'changes-last.txt', before: 'a\nb', after: 'a\nc' },
    ]);
    expect(unifiedDiff('x', 'a\nb\n', 'a\nb')).toContain('-b\n+b\n\\ No newline at end of file\n');
  });

  it('keeps CRLF line breaks byte for byte', () => {
    const before = 'one\r\ntwo\r\nthree\r\n';
    const patch = expectGitToProduce([
      { path: 'win.txt', before, after: 'one\r\n2\r\nthree\r\n' },
      { path: 'to-lf.txt', before, after: 'one\ntwo\nthree\n' },
    ]);
    expect(patch).toContain('-two\r\n+2\r\n');
  });

  it('fills an existing empty file, and empties a file', () => {
    const patch = expectGitToProduce([
      { path: 'empty.txt', before: '', after: 'now\nfull\n' },
      { path: 'emptied.txt', before: 'gone\n', after: '' },
    ]);
    expect(patch).toContain('@@ -0,0 +1,2 @@');
    expect(patch).toContain('@@ -1 +0,0 @@');
  });

  it('creates new files (before null), empty ones included, and deletes files (after null)', () => {
    const patch = expectGitToProduce([
      { path: 'src/new.ts', before: null, after: 'export {};\n' },
      { path: 'src/new-empty.ts', before: null, after: '' },
      { path: 'src/old.ts', before: 'export const old = 1;\n', after: null },
    ]);
    expect(patch).toContain('new file mode 100644\n');
    expect(patch).toContain('--- /dev/null\n+++ b/src/new.ts\n@@ -0,0 +1 @@\n+export {};\n');
    expect(patch).toContain('deleted file mode 100644\n');
  });

  it('is refused by git as a creation when the empty file already exists, hence null for new files', () => {
    const patch = unifiedDiff('e.txt', null, 'x\n');
    expect(() => applyWithGit([{ path: 'e.txt', before: '', after: 'x\n' }], patch)).toThrow(/already exists/);
  });

  it('quotes paths the way git does: spaces, quotes, non-ASCII', () => {
    const patch = expectGitToProduce([
      { path: 'docs/read me.md', before: 'a\n', after: 'b\n' },
      { path: 'src/naïve "x".ts', before: 'a\n', after: 'b\n' },
    ]);
    expect(patch).toContain('--- a/docs/read me.md\t\n');
    expect(patch).toContain('diff --git "a/src/na\\303\\257ve \\"x\\".ts" "b/src/na\\303\\257ve \\"x\\".ts"\n');
  });

  it('keeps an executable file executable', () => {
    const repo = repoWith(
      [{ path: 'run.sh', content: '#!/bin/sh\necho a\n', mode: 0o755 }],
      unifiedDiff('run.sh', '#!/bin/sh\necho a\n', '#!/bin/sh\necho b\n'),
    );
    git(repo, 'apply', '.patch');
    expect(git(repo, 'diff', '--summary')).not.toMatch(/mode change/);
    expect(readFileSync(join(repo, 'run.sh'), 'utf8')).toBe('#!/bin/sh\necho b\n');
  });

  it('lets git apply --3way merge a patch made against an older version of the file', () => {
    const base = lines(1, 30);
    const patch = unifiedDiff('a.txt', base, base.replace('line 25\n', 'twenty-five\n'));
    const repo = repoWith([{ path: 'a.txt', content: base }], patch);
    // Someone else changed the lines the hunk's context needs: a plain apply fails, the blob ids let --3way merge.
    writeFileSync(
      join(repo, 'a.txt'),
      base.replace('line 23\n', 'twenty-three\n').replace('line 27\n', 'twenty-seven\n'),
    );
    git(repo, 'commit', '-qam', 'moved on');
    expect(() => git(repo, 'apply', '--check', '.patch')).toThrow();
    git(repo, 'apply', '--3way', '.patch');
    expect(readFileSync(join(repo, 'a.txt'), 'utf8')).toBe(
      base
        .replace('line 23\n', 'twenty-three\n')
        .replace('line 25\n', 'twenty-five\n')
        .replace('line 27\n', 'twenty-seven\n'),
    );
  });
});

describe('batchPatch', () => {
  it('leaves unchanged files out', () => {
    const patch = batchPatch([
      { path: 'same.ts', before: 'x\n', after: 'x\n' },
      { path: 'changed.ts', before: 'x\n', after: 'y\n' },
    ]);
    expect(patch).not.toContain('same.ts');
    expect(patch.match(/^diff --git/gm)).toHaveLength(1);
  });

  it('refuses a path given twice', () => {
    expect(() =>
      batchPatch([
        { path: 'a', before: '1', after: '2' },
        { path: 'a', before: '1', after: '3' },
      ]),
    ).toThrow(/twice/);
  });

  it('applies with git to exactly the migrated bytes for 40 random files', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const randomFile = () => {
      const count = Math.floor(next() * 60);
      const eol = next() < 0.2 ? '\r\n' : '\n';
      const body = Array.from({ length: count }, () => `v${Math.floor(next() * 8)}${eol}`).join('');
      return next() < 0.3 ? body.replace(/\r?\n$/, '') : body;
    };
    const files: FileChange[] = Array.from({ length: 40 }, (_, i) => {
      const before = randomFile();
      // Small edits of before, so hunks have context; sometimes an unrelated file.
      const after =
        next() < 0.2
          ? randomFile()
          : before
              .split('\n')
              .filter(() => next() > 0.15)
              .map((l) => (next() < 0.1 ? `${l}!` : l))
              .join('\n');
      return { path: `f${i}.txt`, before, after };
    });
    expectGitToProduce(files);
  });
});

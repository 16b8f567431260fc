import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readRepoSource, RepoSourceError } from './repo-source.js';
import { gitIn } from '../../../../test/support/git-in.js';

describe('readRepoSource: the files of a repository at a commit, read through git', () => {
  let repo: string;
  let first: string;
  const git = gitIn(() => repo);
  const write = (path: string, content: string | Buffer) => {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), content);
  };
  // Content that reads like `git cat-file --batch` framing, so a reader that splits on it would go wrong.
  const framing = `${'a'.repeat(40)} blob 12\nnot a header\n\n`;

  beforeAll(() => {
    repo = mkdtempSync(join(tmpdir(), 'switchyard-source-spec-'));
    git('init', '-q', '-b', 'main');
    write('src/a.ts', 'export const a = 1;\n');
    write('src/framing.ts', framing);
    write('src/empty.ts', '');
    write('src/ünïcode dir/naïve.ts', 'export const é = "ü";\r\n');
    write('src/binary.ts', Buffer.from([0x65, 0x00, 0x66]));
    // Latin-1 "café": no NUL byte, but read as UTF-8 its é would become U+FFFD.
    write('src/latin1.ts', Buffer.from('export const name = "caf\xe9";\n', 'latin1'));
    write('src/huge.ts', 'x'.repeat(1024 * 1024 + 1));
    write('src/max.ts', 'y'.repeat(1024 * 1024));
    write('src/gen/out.ts', 'generated\n');
    write('docs/readme.md', '# docs\n');
    write('.github/ci.yml', 'on: push\n');
    symlinkSync('a.ts', join(repo, 'src/link.ts'));
    git('add', '.');
    git('commit', '-qm', 'initial');
    first = git('rev-parse', 'HEAD').trim();
    write('src/a.ts', 'export const a = 2;\n');
    git('commit', '-qam', 'second');
    write('src/a.ts', 'uncommitted\n');
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it('reads every plain text file at the ref exactly as committed, leaving out binaries, files not in UTF-8, links and files over 1 MiB', async () => {
    const read = await readRepoSource({ repo });
    expect(read.commit).toBe(git('rev-parse', 'HEAD').trim());
    const byPath = new Map(read.files.map((f) => [f.path, f.content]));
    expect([...byPath.keys()].sort()).toEqual(
      [
        'docs/readme.md',
        'src/a.ts',
        'src/empty.ts',
        'src/framing.ts',
        'src/gen/out.ts',
        'src/max.ts',
        'src/ünïcode dir/naïve.ts',
      ].sort(),
    );
    // The commit's content, not the working tree's; each file whole, byte for byte.
    expect(byPath.get('src/a.ts')).toBe('export const a = 2;\n');
    expect(byPath.get('src/framing.ts')).toBe(framing);
    expect(byPath.get('src/empty.ts')).toBe('');
    expect(byPath.get('src/ünïcode dir/naïve.ts')).toBe('export const é = "ü";\r\n');
    expect(byPath.get('src/max.ts')).toHaveLength(1024 * 1024);
    // Counted, so that a selection of nothing but such files can say why it gives no item.
    expect(read.skipped).toEqual({ binary: 1, notUtf8: 1, tooLarge: 1 });
  });

  it('filters by include and exclude globs, at an earlier ref', async () => {
    const read = await readRepoSource({ repo, ref: first, include: ['src/**/*.ts'], exclude: ['src/gen/**'] });
    expect(read.commit).toBe(first);
    expect(read.files.map((f) => f.path).sort()).toEqual(
      ['src/a.ts', 'src/empty.ts', 'src/framing.ts', 'src/max.ts', 'src/ünïcode dir/naïve.ts'].sort(),
    );
    expect(read.files.find((f) => f.path === 'src/a.ts')?.content).toBe('export const a = 1;\n');
  });

  it('enters a dot-directory only where a pattern names it (path.matchesGlob, as documented)', async () => {
    const read = await readRepoSource({ repo, include: ['.github/**'] });
    expect(read.files).toEqual([{ path: '.github/ci.yml', content: 'on: push\n' }]);
  });

  it('from a directory below the top level: its files only, globs matched below it, paths from the top', async () => {
    const read = await readRepoSource({ repo: join(repo, 'src'), include: ['**/*.ts'], exclude: ['gen/**'] });
    expect(read.files.map((f) => f.path).sort()).toEqual(
      ['src/a.ts', 'src/empty.ts', 'src/framing.ts', 'src/max.ts', 'src/ünïcode dir/naïve.ts'].sort(),
    );
  });

  it('reads nothing, without failing, when the globs match no file', async () => {
    expect(await readRepoSource({ repo, include: ['**/*.rs'] })).toMatchObject({
      files: [],
      skipped: { binary: 0, notUtf8: 0, tooLarge: 0 },
    });
  });

  it('names the field at fault: a directory that is no repository, a ref that names no commit', async () => {
    const plain = mkdtempSync(join(tmpdir(), 'switchyard-source-plain-'));
    try {
      await expect(readRepoSource({ repo: plain })).rejects.toMatchObject({ field: 'source.repo' });
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
    const err = await readRepoSource({ repo, ref: 'no-such-branch' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepoSourceError);
    expect(err).toMatchObject({ field: 'source.ref' });
  });
});

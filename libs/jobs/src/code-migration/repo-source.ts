import { isUtf8 } from 'node:buffer';
import { execFile, spawn } from 'node:child_process';
import { matchesGlob } from 'node:path';
import { promisify } from 'node:util';
import type { RepoSource } from '#libs/domain';
import { itemPathProblem } from './repo-paths.js';

const run = promisify(execFile);

export type { RepoSource } from '#libs/domain';

export class RepoSourceError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'RepoSourceError';
  }
}

/** Larger files are left out: they are generated or vendored far more often than hand-written. */
const MAX_FILE_BYTES = 1024 * 1024;

export interface RepoFiles {
  /** The commit the ref named when the files were read: a branch output is based on it. */
  commit: string;
  files: Array<{ path: string; content: string }>;
  /** Files the globs matched that are no item: binary, not UTF-8, or over MAX_FILE_BYTES. */
  skipped: SkippedFiles;
}

/** How many matching files were left out, by why. */
export interface SkippedFiles {
  binary: number;
  notUtf8: number;
  tooLarge: number;
}

/**
 * The files of a repository at a commit, filtered by globs: one code-migration item per file. Binary
 * files (a NUL byte), files that are not UTF-8 and files over 1 MiB are skipped. Reads through git, so the user's checkout and its
 * uncommitted changes are never touched.
 */
export async function readRepoSource(source: RepoSource): Promise<RepoFiles> {
  const ref = source.ref ?? 'HEAD';
  const git = async (...args: string[]): Promise<string> =>
    (await run('git', ['-C', source.repo, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;
  try {
    await git('rev-parse', '--git-dir');
  } catch {
    throw new RepoSourceError('source.repo', `is not a git repository: ${source.repo}`);
  }
  let commit: string;
  try {
    commit = (await git('rev-parse', '--verify', '--quiet', `${ref}^{commit}`)).trim();
  } catch {
    throw new RepoSourceError('source.ref', `names no commit in the repository: ${ref}`);
  }
  const include = source.include?.length ? source.include : ['**'];
  const exclude = source.exclude ?? [];
  // `repo` may be a directory inside the work tree: its files only, matched by their path below it, but each
  // item named by its path from the top level (--full-name), as the patch and the branch output need it —
  // named from the directory, `git apply` at the top created a new file and the branch got one beside `src/`.
  const below = (await git('rev-parse', '--show-prefix')).trim();
  const matches = (path: string) => {
    const local = path.slice(below.length);
    return include.some((g) => matchesGlob(local, g)) && !exclude.some((g) => matchesGlob(local, g));
  };
  // Plain files only: a symbolic link's blob is its target path (a link out of the repository would be
  // migrated, then written back as a link to wherever the answer says), a submodule is another repository.
  // A path no item may carry (a newline, a backslash) is left out too. `-l` gives each blob's size.
  let listed = (await git('ls-tree', '-r', '-l', '-z', '--full-name', commit))
    .split('\0')
    .map((line) => /^100(?:644|755) blob ([0-9a-f]+) +(\d+)\t(.*)$/s.exec(line))
    .filter((m) => m !== null)
    .map(([, oid, size, path]) => ({ oid, size: Number(size), path }))
    .filter(({ path }) => itemPathProblem(path) === null)
    .filter(({ path }) => matches(path));
  const skipped: SkippedFiles = { binary: 0, notUtf8: 0, tooLarge: 0 };
  skipped.tooLarge = listed.length;
  listed = listed.filter(({ size }) => size <= MAX_FILE_BYTES);
  skipped.tooLarge -= listed.length;
  // Every blob through one `git cat-file --batch`: two processes per file took 50 s for 2,000 files.
  const blobs = await catBlobs(
    source.repo,
    listed.map((f) => f.oid),
  );
  const files: Array<{ path: string; content: string }> = [];
  listed.forEach(({ path }, i) => {
    const blob = blobs[i];
    // Item content is a string: a Latin-1 or UTF-16 file would reach the model with U+FFFD for its bytes, and
    // the patch and branch made from it would not be the file that was read (`git apply` refuses the whole patch).
    if (blob.includes(0)) skipped.binary += 1;
    else if (!isUtf8(blob)) skipped.notUtf8 += 1;
    else files.push({ path, content: blob.toString('utf8') });
  });
  return { commit, files, skipped };
}

/** The blobs' contents, in order, read by one `git cat-file --batch`. */
function catBlobs(repo: string, oids: readonly string[]): Promise<Buffer[]> {
  if (oids.length === 0) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', repo, 'cat-file', '--batch'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) {
        reject(new Error(`git cat-file failed: ${Buffer.concat(err).toString().trim() || `exit ${code}`}`));
        return;
      }
      try {
        resolve(parseBatch(Buffer.concat(out), oids.length));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    child.stdin.on('error', () => undefined); // an early exit is reported by its code
    child.stdin.end(oids.join('\n') + '\n');
  });
}

/** `git cat-file --batch` output: per object "<oid> <type> <size>\n", the content, "\n". */
function parseBatch(out: Buffer, count: number): Buffer[] {
  const blobs: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const eol = out.indexOf(0x0a, at);
    if (eol < 0) throw new Error('git cat-file ended early');
    const header = out.subarray(at, eol).toString();
    const m = /^[0-9a-f]+ blob (\d+)$/.exec(header);
    if (!m) throw new Error(`git cat-file answered "${header}"`);
    const size = Number(m[1]);
    blobs.push(out.subarray(eol + 1, eol + 1 + size));
    at = eol + 1 + size + 1;
  }
  return blobs;
}

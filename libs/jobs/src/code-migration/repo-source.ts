import { execFile } from 'node:child_process';
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
}

/**
 * The files of a repository at a commit, filtered by globs: one code-migration item per file. Binary
 * files (a NUL byte) and files over 1 MiB are skipped. Reads through git, so the user's checkout and its
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
  // Plain files only: a symbolic link's blob is its target path (a link out of the repository would be
  // migrated, then written back as a link to wherever the answer says), a submodule is another repository.
  // A path no item may carry (a newline, a backslash) is left out too.
  const paths = (await git('ls-tree', '-r', '-z', commit))
    .split('\0')
    .filter((line) => /^100(644|755) blob /.test(line))
    .map((line) => line.slice(line.indexOf('\t') + 1))
    .filter((p) => itemPathProblem(p) === null)
    .filter((p) => include.some((g) => matchesGlob(p, g)) && !exclude.some((g) => matchesGlob(p, g)));
  const files: Array<{ path: string; content: string }> = [];
  for (const path of paths) {
    const size = Number((await git('cat-file', '-s', `${commit}:${path}`)).trim());
    if (size > MAX_FILE_BYTES) continue;
    const content = await git('show', `${commit}:${path}`);
    if (content.includes('\0')) continue;
    files.push({ path, content });
  }
  return { commit, files };
}

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { GitIdentity } from '#libs/domain';
import { RepoSourceError } from './repo-source.js';
import { branchNameProblem, itemPathProblem } from './repo-paths.js';

export { DEFAULT_BRANCH_AUTHOR, parseGitIdentity, type GitIdentity } from '#libs/domain';

/** A branch output that can never be written as asked (no retry helps): recorded as failed. */
export class BranchOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BranchOutputError';
  }
}

interface GitRun {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs git in `repo`; stdin from `input`. Never throws for a non-zero exit: the caller decides. */
function git(repo: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', repo, ...args], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (code) =>
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString().trim(), code: code ?? 1 }),
    );
    child.stdin.on('error', () => undefined); // git may exit before reading all of stdin; its exit code says why
    child.stdin.end(opts.input ?? '');
  });
}

async function gitOk(
  repo: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const r = await git(repo, args, opts);
  if (r.code !== 0) throw new Error(`git ${args[0]} failed: ${r.stderr || `exit ${r.code}`}`);
  return r.stdout;
}

/**
 * Checks at submission that `branch` can be created in `repo`: a valid branch name (as
 * `git check-ref-format --branch` says, taken literally: `@{-1}` and the like are expansions, not names,
 * and see branchNameProblem) that names no existing branch or tag and is not the checked-out branch.
 * Throws RepoSourceError naming `output.branch`.
 */
export async function checkOutputBranch(repo: string, branch: string): Promise<void> {
  const problem = branchNameProblem(branch);
  if (problem) throw new RepoSourceError('output.branch', problem);
  const format = await git(repo, ['check-ref-format', '--branch', branch]);
  if (format.code !== 0 || format.stdout.trim() !== branch) {
    throw new RepoSourceError('output.branch', `is not a valid branch name: ${JSON.stringify(branch)}`);
  }
  const taken = await takenRef(repo, branch);
  if (taken) throw new RepoSourceError('output.branch', `${taken}: name a new branch`);
}

/** Why `branch` names a ref that exists or is checked out in `repo`; null when it is free. */
async function takenRef(repo: string, branch: string): Promise<string | null> {
  const exists = async (ref: string) => (await git(repo, ['rev-parse', '--verify', '--quiet', ref])).code === 0;
  if (await exists(`refs/heads/${branch}`)) return 'is an existing branch';
  if (await exists(`refs/tags/${branch}`)) return 'is an existing tag';
  // An unborn HEAD (a new repository) names a branch that does not exist yet: still the one checked out.
  const head = await git(repo, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  if (head.code === 0 && head.stdout.trim() === branch) return 'is the checked-out branch (HEAD)';
  return null;
}

/** File modes that are not plain files: a symbolic link (its blob is a target path) and a submodule. */
const LINK_MODES = new Set(['120000', '160000']);

/**
 * Refuses, at write time, what submission already refused, in case a batch record says otherwise: a bad
 * or protected branch name, the checked-out branch, a path outside the tree, and a path that is (or lies
 * under) a symbolic link or submodule in the base tree — writing there would turn the model's answer into
 * a link target or a file beside the repository.
 */
async function assertWritable(c: BranchCommit, modes: Map<string, string>): Promise<void> {
  const problem = branchNameProblem(c.branch);
  if (problem) throw new BranchOutputError(`branch ${JSON.stringify(c.branch)} ${problem}`);
  const head = await git(c.repo, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  if (head.code === 0 && head.stdout.trim() === c.branch) {
    throw new BranchOutputError(`branch ${c.branch} is the checked-out branch (HEAD)`);
  }
  for (const { path } of c.files) {
    const bad = itemPathProblem(path);
    if (bad) throw new BranchOutputError(`path ${JSON.stringify(path)} ${bad}`);
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (LINK_MODES.has(modes.get(prefix) ?? '')) {
        const what = 'a symbolic link or submodule in the base commit';
        throw new BranchOutputError(`path ${path} lies at or under ${prefix}, ${what}`);
      }
    }
  }
}

export interface BranchCommit {
  repo: string;
  /** The commit the files were read from; the new branch's only parent. */
  base: string;
  branch: string;
  /** Whole new contents of the files to change (paths from the top level of the base tree). */
  files: Array<{ path: string; content: string }>;
  message: string;
  author: GitIdentity;
  /** Author and committer date (epoch ms): a fixed date makes the commit's id a function of its inputs. */
  date: number;
}

/**
 * Commits `files` on top of `base` and creates `refs/heads/<branch>` at that commit, with git plumbing
 * only: the blobs are written to the object store, the tree is built in a temporary index file
 * (GIT_INDEX_FILE), and the ref is created with `update-ref` — so the user's checked-out branch, HEAD, index
 * and working tree are never touched, and no worktree is left behind.
 *
 * Idempotent: the same inputs make the same commit id (fixed dates), and the ref is created only if it does
 * not exist; finding it already at that very commit (a run repeated after a crash) counts as success.
 */
export async function commitToNewBranch(asked: BranchCommit): Promise<{ commit: string; created: boolean }> {
  if ((await git(asked.repo, ['cat-file', '-e', `${asked.base}^{commit}`])).code !== 0) {
    throw new BranchOutputError(`the commit the files were read from (${asked.base}) is no longer in ${asked.repo}`);
  }
  // Paths are from the top level, as git plumbing reads them; run from a directory below it, `ls-tree` would
  // name each file from there, and an executable or a link under it would go unseen.
  const top = (await gitOk(asked.repo, ['rev-parse', '--show-cdup'])).trim();
  const c = { ...asked, repo: resolve(asked.repo, top) };
  const scratch = await mkdtemp(join(tmpdir(), 'switchyard-branch-'));
  const seconds = Math.floor(c.date / 1000);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_INDEX_FILE: join(scratch, 'index'),
    GIT_AUTHOR_NAME: c.author.name,
    GIT_AUTHOR_EMAIL: c.author.email,
    GIT_AUTHOR_DATE: `${seconds} +0000`,
    GIT_COMMITTER_NAME: c.author.name,
    GIT_COMMITTER_EMAIL: c.author.email,
    GIT_COMMITTER_DATE: `${seconds} +0000`,
  };
  try {
    const modes = await modesOf(c.repo, c.base);
    await assertWritable(c, modes);
    await gitOk(c.repo, ['read-tree', c.base], { env });
    // Every blob through one `git hash-object`, from scratch files (a process per file took 23 s for 2,000
    // files; this takes 0.6 s). --no-filters: the content is stored as is (no clean filter, no
    // line-ending conversion), whatever the repository's attributes say of its path.
    const scratchFiles = c.files.map((_, i) => join(scratch, `blob-${i}`));
    // One at a time: thousands opened at once would run into the process's file descriptor limit.
    for (const [i, file] of c.files.entries()) await writeFile(scratchFiles[i], file.content);
    const blobs = c.files.length
      ? (
          await gitOk(c.repo, ['hash-object', '-w', '--no-filters', '--stdin-paths'], {
            input: scratchFiles.join('\n') + '\n',
            env,
          })
        )
          .trim()
          .split('\n')
      : [];
    if (blobs.length !== c.files.length)
      throw new Error(`git hash-object wrote ${blobs.length} of ${c.files.length} blobs`);
    const entries = c.files.map((file, i) => `${modes.get(file.path) ?? '100644'} ${blobs[i]}\t${file.path}\0`);
    await gitOk(c.repo, ['update-index', '-z', '--index-info'], { input: entries.join(''), env });
    const tree = (await gitOk(c.repo, ['write-tree'], { env })).trim();
    const commit = (
      await gitOk(c.repo, ['commit-tree', tree, '-p', c.base, '-F', '-'], { input: c.message, env })
    ).trim();
    // An empty old value: create the ref only if it does not exist (atomic in git's ref transaction).
    const created = await git(
      c.repo,
      ['update-ref', '-m', 'switchyard: batch output', `refs/heads/${c.branch}`, commit, ''],
      { env },
    );
    if (created.code === 0) return { commit, created: true };
    const current = await git(c.repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${c.branch}`]);
    if (current.code === 0 && current.stdout.trim() === commit) return { commit, created: false };
    if (current.code === 0)
      throw new BranchOutputError(
        `branch ${c.branch} was created by someone else (at ${current.stdout.trim().slice(0, 12)}) after the batch was submitted`,
      );
    throw new BranchOutputError(`could not create branch ${c.branch}: ${created.stderr}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Every file's mode at `commit` (so an executable script stays executable, and links are seen). */
async function modesOf(repo: string, commit: string): Promise<Map<string, string>> {
  const modes = new Map<string, string>();
  const listing = await gitOk(repo, ['ls-tree', '-r', '-z', commit]);
  for (const line of listing.split('\0')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    modes.set(line.slice(tab + 1), line.slice(0, line.indexOf(' ')));
  }
  return modes;
}

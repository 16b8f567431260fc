import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RepoSourceError } from './repo-source.js';

/** Who commits a batch's branch output, unless BRANCH_OUTPUT_AUTHOR says otherwise. */
export const DEFAULT_BRANCH_AUTHOR: GitIdentity = { name: 'Switchyard', email: 'switchyard@localhost' };

export interface GitIdentity {
  name: string;
  email: string;
}

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
    const child = spawn('git', ['-C', repo, ...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', reject);
    child.once('close', (code) => resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString().trim(), code: code ?? 1 }));
    child.stdin.on('error', () => undefined); // git may exit before reading all of stdin; its exit code says why
    child.stdin.end(opts.input ?? '');
  });
}

async function gitOk(repo: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await git(repo, args, opts);
  if (r.code !== 0) throw new Error(`git ${args[0]} failed: ${r.stderr || `exit ${r.code}`}`);
  return r.stdout;
}

/**
 * Checks at submission that `branch` can be created in `repo`: a valid branch name (as
 * `git check-ref-format --branch` says, taken literally: `@{-1}` and the like are expansions, not names)
 * that does not exist yet. Throws RepoSourceError naming `output.branch`.
 */
export async function checkOutputBranch(repo: string, branch: string): Promise<void> {
  const format = await git(repo, ['check-ref-format', '--branch', branch]);
  if (format.code !== 0 || format.stdout.trim() !== branch) {
    throw new RepoSourceError('output.branch', `is not a valid branch name: ${JSON.stringify(branch)}`);
  }
  if ((await git(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`])).code === 0) {
    throw new RepoSourceError('output.branch', `already exists in ${repo}: name a new branch`);
  }
}

export interface BranchCommit {
  repo: string;
  /** The commit the files were read from; the new branch's only parent. */
  base: string;
  branch: string;
  /** Whole new contents of the files to change (paths as in the base tree). */
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
export async function commitToNewBranch(c: BranchCommit): Promise<{ commit: string; created: boolean }> {
  if ((await git(c.repo, ['cat-file', '-e', `${c.base}^{commit}`])).code !== 0) {
    throw new BranchOutputError(`the commit the files were read from (${c.base}) is no longer in ${c.repo}`);
  }
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
    await gitOk(c.repo, ['read-tree', c.base], { env });
    const modes = await modesOf(c.repo, c.base, c.files.map((f) => f.path));
    const entries: string[] = [];
    for (const file of c.files) {
      // --stdin without --path: the content is stored as is (no clean filter, no line-ending conversion).
      const blob = (await gitOk(c.repo, ['hash-object', '-w', '--stdin'], { input: file.content, env })).trim();
      entries.push(`${modes.get(file.path) ?? '100644'} ${blob}\t${file.path}\0`);
    }
    await gitOk(c.repo, ['update-index', '-z', '--index-info'], { input: entries.join(''), env });
    const tree = (await gitOk(c.repo, ['write-tree'], { env })).trim();
    const commit = (await gitOk(c.repo, ['commit-tree', tree, '-p', c.base, '-F', '-'], { input: c.message, env })).trim();
    // An empty old value: create the ref only if it does not exist (atomic in git's ref transaction).
    const created = await git(c.repo, ['update-ref', '-m', 'switchyard: batch output', `refs/heads/${c.branch}`, commit, ''], { env });
    if (created.code === 0) return { commit, created: true };
    const current = await git(c.repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${c.branch}`]);
    if (current.code === 0 && current.stdout.trim() === commit) return { commit, created: false };
    if (current.code === 0) throw new BranchOutputError(`branch ${c.branch} was created by someone else (at ${current.stdout.trim().slice(0, 12)}) after the batch was submitted`);
    throw new BranchOutputError(`could not create branch ${c.branch}: ${created.stderr}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** File modes at `commit` (so an executable script stays executable). */
async function modesOf(repo: string, commit: string, paths: string[]): Promise<Map<string, string>> {
  const modes = new Map<string, string>();
  if (paths.length === 0) return modes;
  const listing = await gitOk(repo, ['ls-tree', '-r', '-z', commit]);
  const wanted = new Set(paths);
  for (const line of listing.split('\0')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const path = line.slice(tab + 1);
    if (wanted.has(path)) modes.set(path, line.slice(0, line.indexOf(' ')));
  }
  return modes;
}

/** "Name <email>" → identity; null when it is not of that form. */
export function parseGitIdentity(value: string): GitIdentity | null {
  const m = /^\s*([^<>]*[^<>\s])\s*<([^<>\s]+)>\s*$/.exec(value);
  return m ? { name: m[1], email: m[2] } : null;
}

/**
 * What a code migration may name inside a repository: file paths and the branch it writes. Pure checks,
 * run at submission (a 400 naming the field) and again where git is touched (the worker), so a record
 * that reached Redis some other way is refused too (issue 13 §5).
 */

/** Branches a batch may never write, whatever the repository: the usual mainlines and HEAD itself. */
export const PROTECTED_BRANCHES: readonly string[] = ['main', 'master', 'HEAD'];

// Control characters (C0 and DEL): git refuses them in ref names, and no file path needs them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Why `path` cannot name a file of a repository's tree, or null when it can: relative, forward slashes,
 * normalized (no empty, "." or ".." segment), outside `.git`. `../../etc/evil.json`, `/etc/abs.json`,
 * `a\..\b` and `C:/x` are refused; they would name files outside the repository in a patch or a branch.
 */
export function itemPathProblem(path: string): string | null {
  if (path.length === 0) return 'must not be empty';
  if (CONTROL.test(path)) return 'must not contain control characters (NUL, newline, ...)';
  if (path.includes('\\')) return 'must use "/" between directories, not "\\"';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'must be relative to the repository root, not absolute';
  const segments = path.split('/');
  if (segments.some((s) => s === '..')) return 'must stay inside the repository: no ".." segment';
  if (segments.some((s) => s === '' || s === '.')) {
    return 'must be normalized: no empty or "." segment, no leading or trailing "/"';
  }
  if (segments.some((s) => s.toLowerCase() === '.git')) return 'must not be inside .git';
  return null;
}

/**
 * Why `name` cannot be a new branch, or null when it can: the rules of `git check-ref-format --branch`
 * taken literally (`@`, `@{-1}` and the like are expansions there, not names), plus what would write
 * somewhere else than a new branch — a name starting `refs/` (it would become refs/heads/refs/...), `-`
 * (an option to git), or a protected branch.
 */
export function branchNameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (CONTROL.test(name) || /[ ~^:?*[\\]/.test(name)) {
    return 'must not contain spaces, control characters or any of ~ ^ : ? * [ \\';
  }
  if (name === '@' || name.includes('@{')) return 'must not be "@" or contain "@{" (git reads them as expansions)';
  if (name.startsWith('-')) return 'must not start with "-"';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) {
    return 'must not start or end with "/" or contain "//"';
  }
  if (name.endsWith('.')) return 'must not end with "."';
  const parts = name.split('/');
  if (parts.some((p) => p.startsWith('.'))) return 'must not have a part starting with "."';
  if (parts.some((p) => p.endsWith('.lock'))) return 'must not have a part ending with ".lock"';
  if (name.startsWith('refs/')) return 'is a branch name, not a ref: leave out "refs/heads/"';
  if (PROTECTED_BRANCHES.includes(name)) {
    return `is a protected branch (${PROTECTED_BRANCHES.join(', ')}): name a new branch`;
  }
  return null;
}

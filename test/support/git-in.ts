import { execFileSync } from 'node:child_process';

/**
 * Runs git in a test's repository (`dir`, or a function giving it for a repository made in a hook), with no global
 * config and a fixed author, and returns its output.
 */
export function gitIn(dir: string | (() => string)): (...args: string[]) => string {
  return (...args) =>
    execFileSync('git', args, {
      cwd: typeof dir === 'string' ? dir : dir(),
      stdio: 'pipe',
      env: {
        ...process.env,
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'u',
        GIT_AUTHOR_EMAIL: 'u@u',
        GIT_COMMITTER_NAME: 'u',
        GIT_COMMITTER_EMAIL: 'u@u',
      },
    }).toString();
}

import { branchNameProblem, itemPathProblem } from '#libs/jobs';
import type { BatchSubmission } from '#libs/domain';

/**
 * A code migration's paths and branch, checked where no git is needed (issue 13 §5): every item's `path`
 * relative and inside the repository (it becomes a file in `/patch` and on the branch), and
 * `output.branch` a name git takes for a new, unprotected branch. The intake then checks the branch
 * against the repository itself, and the worker checks both again before it writes.
 */
export function repositoryFieldErrors(s: BatchSubmission): Array<{ field: string; message: string }> {
  if (s.kind !== 'code-migration') return [];
  const errors: Array<{ field: string; message: string }> = [];
  (s.items ?? []).forEach((item, index) => {
    const problem = itemPathProblem(item.path);
    if (problem) errors.push({ field: `items[${index}].path`, message: problem });
  });
  const branch = s.output ? branchNameProblem(s.output.branch) : null;
  if (branch) errors.push({ field: 'output.branch', message: branch });
  return errors;
}

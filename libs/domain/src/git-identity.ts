/** Who commits a batch's branch output, unless BRANCH_OUTPUT_AUTHOR says otherwise. */
export const DEFAULT_BRANCH_AUTHOR: GitIdentity = { name: 'Switchyard', email: 'switchyard@localhost' };

export interface GitIdentity {
  name: string;
  email: string;
}

/** "Name <email>" → identity; null when it is not of that form. */
export function parseGitIdentity(value: string): GitIdentity | null {
  const m = /^\s*([^<>]*[^<>\s])\s*<([^<>\s]+)>\s*$/.exec(value);
  return m ? { name: m[1], email: m[2] } : null;
}

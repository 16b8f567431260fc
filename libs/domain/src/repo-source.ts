export interface RepoSource {
  /** Path of a git repository readable where the batch is created. */
  repo: string;
  /** Branch, tag or commit; default HEAD. Files are read from git at that commit, not from the work tree. */
  ref?: string;
  /** Globs of paths to migrate (default: everything); `exclude` wins over `include`. */
  include?: string[];
  exclude?: string[];
}

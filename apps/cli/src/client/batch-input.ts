/** What `switchyard submit DIR` was told on the command line about the batch to build from a folder. */
export interface FolderBatchFlags {
  sensitivity?: string;
  deadline?: string;
  model?: string;
  maxCostUsd?: number;
  /** Code migration: an instruction and/or a preset (`commonjs-to-esm`, …). Either makes it a code batch. */
  instruction?: string;
  preset?: string;
  /** Documents: summarize (default), classify (with labels) or extract (with a JSON schema). */
  task?: string;
  labels?: string[];
  schema?: unknown;
}

export interface FolderFile {
  /** Relative to the folder, with `/`. */
  path: string;
  text: string;
}

/** A batch body the API takes (POST /v1/batches): the API validates it and names any wrong field. */
export type BatchBody = Record<string, unknown>;

/**
 * The batch for a folder: a code migration when an instruction or preset is given (items `{path, content}`),
 * documents otherwise (items `{id, text}`, the id being the file's path). Defaults are the API's own
 * (sensitivity, deadline) except where the API has none.
 */
export function batchFromFolder(files: readonly FolderFile[], flags: FolderBatchFlags): BatchBody {
  if (files.length === 0) throw new Error('no files matched: nothing to submit');
  const common = {
    sensitivity: flags.sensitivity ?? 'internal',
    deadline: flags.deadline ?? 'P1D',
    ...(flags.model === undefined ? {} : { model: flags.model }),
    ...(flags.maxCostUsd === undefined ? {} : { maxCostUsd: flags.maxCostUsd }),
  };
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (flags.instruction !== undefined || flags.preset !== undefined) {
    return {
      kind: 'code-migration',
      ...common,
      task: {
        ...(flags.instruction === undefined ? {} : { instruction: flags.instruction }),
        ...(flags.preset === undefined ? {} : { preset: flags.preset }),
      },
      items: sorted.map((f) => ({ path: f.path, content: f.text })),
    };
  }
  const type = flags.task ?? 'summarize';
  const task =
    type === 'classify'
      ? { type, labels: flags.labels ?? [] }
      : type === 'extract'
        ? { type, schema: flags.schema }
        : { type };
  return { kind: 'document-processing', ...common, task, items: sorted.map((f) => ({ id: f.path, text: f.text })) };
}

/** Text files only: a NUL byte in the first 8 KiB marks a binary file, as git decides. */
export function looksBinary(bytes: Uint8Array): boolean {
  return bytes.subarray(0, 8192).includes(0);
}

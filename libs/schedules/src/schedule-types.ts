/** A standing order: a batch template fired on a cron pattern (with its time zone) or every N ms. */
export interface ScheduleDefinition {
  name: string;
  /** Cron pattern (5 or 6 fields) with an IANA time zone, or `every` milliseconds. */
  cron?: string;
  tz?: string;
  every?: number;
  /** A batch body as POST /v1/batches takes it; its deadline is a duration from each firing. */
  batch: Record<string, unknown>;
  createdAt: number;
  /** The creating API key's tenant, given to every batch it fires; absent when created without a key. */
  tenant?: string | null;
}

export interface ScheduleRun {
  /** The slot the scheduler fired for (epoch ms). */
  slot: number;
  firedAt: number;
  /** null when the run failed, or when no file had changed (then nothing was submitted). */
  batchId: string | null;
  /** Files submitted in the batch (repo sources; absent for inline items). */
  submitted?: number;
  /** Files skipped because neither they nor the instruction changed since their item last completed. */
  skippedUnchanged: number;
  error?: string;
}

export interface ScheduleView {
  name: string;
  cron: string | null;
  tz: string | null;
  every: number | null;
  batch: Record<string, unknown>;
  createdAt: string;
  tenant: string | null;
  nextRunAt: string | null;
  runs: Array<{ slot: string; firedAt: string; batchId: string | null; submitted?: number; skippedUnchanged: number; error?: string }>;
}

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
  /**
   * The API key that created (or last replaced) the schedule: every firing counts against its rate limits,
   * and a firing of a key revoked or expired since is skipped. Absent in open mode and on older schedules.
   */
  ownerKeyId?: string | null;
}

/** Whose schedule it is: the creating key's tenant and id (both null without a key). */
export interface ScheduleOwner {
  tenant: string | null;
  keyId: string | null;
}

/**
 * Whether a firing may submit `tokens` for the schedule's owner key, as the API would let that key submit
 * them now (the same per-key limiter). A refusal names why; the firing is then recorded as skipped.
 */
export type FiringGate = (
  ownerKeyId: string,
  tokens: number,
  now: number,
) => Promise<{ allowed: true } | { allowed: false; reason: string }>;

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
  /** Why the firing submitted nothing though it could have: over the owner key's limits, key revoked. */
  skipped?: string;
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
  ownerKeyId: string | null;
  nextRunAt: string | null;
  runs: Array<Omit<ScheduleRun, 'slot' | 'firedAt'> & { slot: string; firedAt: string }>;
}

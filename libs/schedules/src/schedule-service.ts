import { checkSubmission, checkSubmissionCompiled, type SubmissionLimits } from '#libs/batches';
import { SubmissionRejected, type BatchIntake } from '#libs/batches';
import type { BatchStore } from '#libs/batches';
import type { BatchSubmission } from '#libs/domain';
import { migrationInputHash } from '#libs/jobs';
import { migrationInstruction } from '#libs/jobs';
import { RepoSourceError, readRepoSource, type RepoFiles } from '#libs/jobs';
import { JobName, SCHEDULES_QUEUE, type QueueLayer } from '#libs/queue';
import { submittedTokens } from '#libs/access';
import type { RepositoryGate } from '#libs/repositories';
import { checkSchedule, DEFAULT_MIN_INTERVAL_MS } from './schedule-submission.js';
import type { ScheduleStore } from './schedule-store.js';
import type { FiringGate, ScheduleDefinition, ScheduleOwner, ScheduleView } from './schedule-types.js';

export interface ScheduleServiceOptions {
  /** SCHEDULE_MIN_INTERVAL_MS: the shortest `every`, and the shortest gap between two cron firings. */
  minIntervalMs?: number;
  /** The owner key's rate limits, checked before each firing submits (the worker's); absent: none. */
  firingGate?: FiringGate;
  /** The registered repositories a template's `source.repo` must be one of, for the schedule's tenant. */
  repositories?: RepositoryGate;
}

const NO_OWNER: ScheduleOwner = { tenant: null, keyId: null };

export type FireOutcome = { batchId: string | null; skippedUnchanged: number; skipped?: string; error?: string };

/**
 * Users' schedules: each is one BullMQ Job Scheduler (upserted here, from the API, never registered by
 * replicas at boot), so any number of API and worker processes fire each slot once. A firing creates an
 * ordinary batch from the template, linked to the schedule by an idempotency key per slot.
 */
export class ScheduleService {
  constructor(
    private readonly store: ScheduleStore,
    private readonly jobs: QueueLayer,
    private readonly limits: SubmissionLimits,
    private readonly batches: BatchStore,
    private readonly opts: ScheduleServiceOptions = {},
  ) {}

  /** Creates or replaces a schedule. Throws SubmissionRejected naming the wrong field. */
  /**
   * `claimedBy`: the tenant of the key asking (undefined for an admin or open mode). The name is then written only
   * where it is free or already that tenant's; otherwise ScheduleNameTaken.
   */
  async upsert(
    body: unknown,
    now = Date.now(),
    owner: ScheduleOwner = NO_OWNER,
    claimedBy?: string,
  ): Promise<ScheduleView> {
    const check = checkSchedule(body, { minIntervalMs: this.opts.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS });
    if (!check.ok) throw new SubmissionRejected(check.errors);
    const { name, cron, tz, every, batch } = check.schedule;
    const template = await checkSubmissionCompiled(batch, this.limits, now);
    if (!template.ok)
      throw new SubmissionRejected(template.errors.map((e) => ({ field: `batch.${e.field}`, message: e.message })));
    if (batch.output !== undefined) {
      throw new SubmissionRejected([
        { field: 'batch.output', message: 'is not supported on a schedule: every firing would create the same branch' },
      ]);
    }
    const source = template.submission.kind === 'code-migration' ? template.submission.source : undefined;
    if (source) await this.authorizedRepo(source.repo, owner.tenant, 'batch.source.repo');
    const { tenant, keyId: ownerKeyId } = owner;
    if (!(await this.store.save({ name, cron, tz, every, batch, createdAt: now, tenant, ownerKeyId }, claimedBy)))
      throw new ScheduleNameTaken(name);
    await this.jobs.schedule(
      SCHEDULES_QUEUE,
      name,
      cron ? { pattern: cron, tz: tz! } : { every: every! },
      JobName.FireSchedule,
      { schedule: name },
    );
    return (await this.get(name))!;
  }

  async list(): Promise<ScheduleView[]> {
    return Promise.all((await this.store.list()).map((d) => this.get(d.name) as Promise<ScheduleView>));
  }

  async get(name: string): Promise<ScheduleView | null> {
    const def = await this.store.get(name);
    if (!def) return null;
    const next = await this.jobs.nextRun(SCHEDULES_QUEUE, name);
    const runs = await this.store.runs(name);
    return {
      name: def.name,
      cron: def.cron ?? null,
      tz: def.tz ?? null,
      every: def.every ?? null,
      batch: def.batch,
      createdAt: new Date(def.createdAt).toISOString(),
      tenant: def.tenant ?? null,
      ownerKeyId: def.ownerKeyId ?? null,
      nextRunAt: next ? new Date(next).toISOString() : null,
      runs: runs.map((r) => ({
        ...r,
        slot: new Date(r.slot).toISOString(),
        firedAt: new Date(r.firedAt).toISOString(),
      })),
    };
  }

  async delete(name: string): Promise<boolean> {
    const existed = await this.store.delete(name);
    const unscheduled = await this.jobs.unschedule(SCHEDULES_QUEUE, name);
    return existed || unscheduled;
  }

  /**
   * One firing (worker side): claims the slot (a re-run after a crash creates nothing twice), submits the
   * template as an ordinary batch and records the run. A template that no longer validates is recorded as
   * a failed run and the job fails without retry.
   *
   * A template over a repository submits only the files that changed: each file whose input hash
   * (instruction and content) equals the one remembered from an item that completed in an earlier run is
   * skipped. When nothing changed, the run is recorded without a batch: an empty batch would only add a
   * "completed, 0 items" entry to the batch list every night, and the run already says what was skipped.
   *
   * Every firing counts against its owner key's limits, as the same batch submitted through the API would:
   * one over them (or of a key since revoked) is recorded as skipped with the reason, and submits nothing.
   *
   * A failure that may pass (Redis, git, a routing read) is retried by the queue: it is the run's outcome only on
   * the last attempt (`lastAttempt`), so a retry that submits records the batch, not the error before it.
   */
  async fire(
    name: string,
    slot: number,
    intake: BatchIntake,
    { now = Date.now(), lastAttempt = true }: { now?: number; lastAttempt?: boolean } = {},
  ): Promise<FireOutcome> {
    const def = await this.store.get(name);
    if (!def) return { batchId: null, skippedUnchanged: 0, error: 'schedule deleted' };
    try {
      const idempotencyKey = `schedule:${name}:${slot}`;
      const source = await this.changedSourceFiles(name, def.batch, now, def.tenant ?? null);
      // (No file at all is not "unchanged": the intake rejects it, and the run records why.)
      if (source && source.changed.files.length === 0 && source.skipped > 0) {
        if (await this.store.claimSlot(name, slot))
          await this.store.addRun(name, {
            slot,
            firedAt: now,
            batchId: null,
            submitted: 0,
            skippedUnchanged: source.skipped,
          });
        return { batchId: null, skippedUnchanged: source.skipped };
      }
      const refused = await this.overOwnerLimits(def, source?.changed.files, now);
      if (refused !== null) {
        const outcome = { batchId: null, skippedUnchanged: source?.skipped ?? 0, skipped: refused };
        if (await this.store.claimSlot(name, slot)) await this.store.addRun(name, { slot, firedAt: now, ...outcome });
        return outcome;
      }
      const accepted = await intake.submit(
        def.batch,
        idempotencyKey,
        now,
        source
          ? {
              sourceFiles: source.changed,
              origin: { schedule: name, skippedUnchanged: source.skipped },
              tenant: def.tenant ?? null,
            }
          : { origin: { schedule: name, skippedUnchanged: 0 }, tenant: def.tenant ?? null },
      );
      if (source) await this.store.holdFileHashes(name, accepted.id, source.hashes);
      if (await this.store.claimSlot(name, slot)) {
        await this.store.addRun(name, {
          slot,
          firedAt: now,
          batchId: accepted.id,
          submitted: source?.changed.files.length,
          skippedUnchanged: source?.skipped ?? 0,
        });
      }
      return { batchId: accepted.id, skippedUnchanged: source?.skipped ?? 0 };
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const final = lastAttempt || err instanceof SubmissionRejected;
      if (final && (await this.store.claimSlot(name, slot)))
        await this.store.addRun(name, { slot, firedAt: now, batchId: null, skippedUnchanged: 0, error });
      throw err;
    }
  }

  /** The repository's real path when registered for `tenant`; otherwise SubmissionRejected naming `field`. */
  private async authorizedRepo(repo: string, tenant: string | null, field: string): Promise<string> {
    if (!this.opts.repositories) throw new Error('ScheduleService needs the repository registry to read a repository');
    try {
      return await this.opts.repositories.authorize(repo, tenant);
    } catch (err) {
      if (err instanceof RepoSourceError) throw new SubmissionRejected([{ field, message: err.message }]);
      throw err;
    }
  }

  /** Why the owner key may not submit this firing now; null when it may (or no gate or owner applies). */
  private async overOwnerLimits(
    def: ScheduleDefinition,
    files: RepoFiles['files'] | undefined,
    now: number,
  ): Promise<string | null> {
    if (!this.opts.firingGate || !def.ownerKeyId) return null;
    const tokens = submittedTokens(files ? { ...def.batch, items: files } : def.batch);
    const decision = await this.opts.firingGate(def.ownerKeyId, tokens, now);
    return decision.allowed ? null : decision.reason;
  }

  /**
   * For a template over a repository: the files to submit (those whose input changed since their item last
   * completed), how many were skipped, and the hashes of the submitted ones. Null for any other template.
   */
  private async changedSourceFiles(
    name: string,
    body: Record<string, unknown>,
    now: number,
    tenant: string | null,
  ): Promise<{ changed: RepoFiles; skipped: number; hashes: Record<string, string> } | null> {
    const check = checkSubmission(body, this.limits, now);
    if (!check.ok) throw new SubmissionRejected(check.errors);
    const template: BatchSubmission = check.submission;
    if (template.kind !== 'code-migration' || !template.source) return null;
    const inFlight = await this.settleFinishedRuns(name);
    // Checked again at every firing: a registration removed since stops the schedule reading the repository.
    const repo = await this.authorizedRepo(template.source.repo, tenant, 'source.repo');
    let read: RepoFiles;
    try {
      read = await readRepoSource({ ...template.source, repo });
    } catch (err) {
      if (err instanceof RepoSourceError) throw new SubmissionRejected([{ field: err.field, message: err.message }]);
      throw err;
    }
    const known = await this.store.fileHashes(name);
    // A path the selection no longer has is forgotten: over years of renames its hash would stay for ever, and a
    // file that comes back is new to the schedule.
    const present = new Set(read.files.map((f) => f.path));
    await this.store.forgetFileHashes(
      name,
      Object.keys(known).filter((path) => !present.has(path)),
    );
    const hashes: Record<string, string> = {};
    const changed = read.files.filter((f) => {
      const hash = migrationInputHash(migrationInstruction(template.task), f.content);
      // A run still going migrates this very input: submitting it again would pay for it twice.
      if (known[f.path] === hash || inFlight.has(inputKey(f.path, hash))) return false;
      hashes[f.path] = hash;
      return true;
    });
    return {
      changed: { commit: read.commit, files: changed, skipped: read.skipped },
      skipped: read.files.length - changed.length,
      hashes,
    };
  }

  /**
   * Moves the held hashes of every finished run's completed files into the remembered ones; a failed or
   * cancelled file is not remembered, so the next run retries it. Runs still going keep theirs held; what
   * they hold is returned (inputKey of path and hash), the inputs being migrated now.
   */
  private async settleFinishedRuns(name: string): Promise<Set<string>> {
    const inFlight = new Set<string>();
    for (const batchId of await this.store.heldBatches(name)) {
      const batch = await this.batches.get(batchId);
      const held = batch ? await this.store.heldFileHashes(name, batchId) : {};
      if (batch && !batch.finishedAt) {
        for (const [path, hash] of Object.entries(held)) inFlight.add(inputKey(path, hash));
        continue;
      }
      const completed: Record<string, string> = {};
      if (batch) {
        for await (const item of this.batches.eachItem(batchId)) {
          if (item.status === 'completed' && held[item.id] !== undefined) completed[item.id] = held[item.id];
        }
      }
      await this.store.settleFileHashes(name, batchId, completed);
    }
    return inFlight;
  }
}

/** One file's input as a set member: a path holds no NUL byte. */
function inputKey(path: string, hash: string): string {
  return `${path}\0${hash}`;
}

/** The name holds another tenant's schedule (found when the write was to be made). */
export class ScheduleNameTaken extends Error {
  constructor(readonly scheduleName: string) {
    super(`schedule name ${scheduleName} is taken`);
    this.name = 'ScheduleNameTaken';
  }
}

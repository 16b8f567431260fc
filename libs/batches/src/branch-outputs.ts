import type { RedisClient } from '#libs/redis';
import { JobName, OUTPUTS_QUEUE, branchOutputJobId, type QueueLayer } from '#libs/queue';
import { BatchKeys } from './batch-keys.js';
import type { BatchStore } from './batch-store.js';
import type { BranchOutputSpec } from '#libs/domain';
import type { RepositoryGate } from '#libs/repositories';

/** Paths of items left unwritten that a batch record keeps (the items themselves say the rest). */
const NOT_WRITTEN_KEPT = 1000;

export type BranchOutputOutcome =
  | { status: 'written'; commit: string; files: number; notWritten: string[] }
  | { status: 'failed'; error: string; files: number; notWritten: string[] };

/**
 * The branch outputs of code migrations, from batch creation to the commit: which are pending, what each
 * needs, and its outcome on the batch record. A batch with an output joins the pending set before its
 * creation returns (BatchCreation) and leaves it only after its outcome is recorded, so an output is never lost: the
 * finish trigger enqueues the write at once, and a periodic sweep re-enqueues any whose trigger a crash ate.
 */
export class BranchOutputs {
  private readonly keys: BatchKeys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly store: BatchStore,
    private readonly jobs: QueueLayer,
    /** The registered repositories: an output is written only while its repository still is one. */
    private readonly repositories?: RepositoryGate,
  ) {
    this.keys = new BatchKeys(prefix);
  }

  /**
   * Why the batch's output may no longer be written to `repo`: its registration for the batch's tenant was
   * removed since the batch was accepted (or the path now resolves elsewhere). Null when it may.
   */
  async repositoryRefusal(batchId: string, repo: string): Promise<string | null> {
    if (!this.repositories) return null;
    const tenant = await this.redis.hget(this.keys.batch(batchId), 'tenant');
    try {
      const real = await this.repositories.authorize(repo, tenant);
      return real === repo ? null : `the repository path ${repo} now resolves to ${real}`;
    } catch (err) {
      return `source.repo ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Enqueues the write as soon as a transition in this process finishes a batch with a pending output. */
  watch(onError: (batchId: string, err: unknown) => void): void {
    this.store.onBatchFinished((batchId) => {
      this.enqueueIfPending(batchId).catch((err) => onError(batchId, err));
    });
  }

  /** Enqueues the write of a finished batch's pending output; a no-op for any other batch. */
  async enqueueIfPending(batchId: string): Promise<boolean> {
    if (!(await this.redis.sismember(this.keys.pendingOutputs(), batchId))) return false;
    await this.jobs.enqueue(OUTPUTS_QUEUE, [
      { name: JobName.WriteBranchOutput, data: { batchId }, jobId: branchOutputJobId(batchId) },
    ]);
    return true;
  }

  /** The sweep: enqueues every pending output whose batch has finished. Returns how many. */
  async enqueueFinished(): Promise<number> {
    let enqueued = 0;
    for (const batchId of await this.redis.smembers(this.keys.pendingOutputs())) {
      const [finishedAt, status] = await this.redis.hmget(this.keys.batch(batchId), 'finishedAt', 'outputStatus');
      // Its outcome is recorded but a crash kept it in the set (record() writes the batch first): done now.
      if (status !== null && status !== 'pending') await this.redis.srem(this.keys.pendingOutputs(), batchId);
      else if (finishedAt && (await this.enqueueIfPending(batchId))) enqueued += 1;
    }
    return enqueued;
  }

  /** The output a batch asked for while it is still pending; null once written or failed (or never asked). */
  async pending(batchId: string): Promise<(BranchOutputSpec & { finishedAt: number | null }) | null> {
    const [output, status, finishedAt] = await this.redis.hmget(
      this.keys.batch(batchId),
      'output',
      'outputStatus',
      'finishedAt',
    );
    if (!output || status !== 'pending') return null;
    return { ...(JSON.parse(output) as BranchOutputSpec), finishedAt: finishedAt ? Number(finishedAt) : null };
  }

  /**
   * Records the outcome on the batch, then takes it off the pending set. Two steps, since the batch (its own
   * slot) and the set (the global slot) cannot change together on a Redis Cluster; in this order a crash
   * between them leaves a recorded batch in the set, which the sweep removes, never an unrecorded one out of it.
   */
  async record(batchId: string, outcome: BranchOutputOutcome): Promise<void> {
    const fields: Record<string, string | number> = {
      outputStatus: outcome.status,
      outputFiles: outcome.files,
      outputNotWritten: JSON.stringify(outcome.notWritten.slice(0, NOT_WRITTEN_KEPT)),
      ...(outcome.status === 'written' ? { outputCommit: outcome.commit } : { outputError: outcome.error }),
    };
    await this.redis.hset(this.keys.batch(batchId), fields);
    await this.redis.srem(this.keys.pendingOutputs(), batchId);
  }
}

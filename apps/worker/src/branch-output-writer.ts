import { Logger } from '@nestjs/common';
import type { BatchStore } from '#libs/batches';
import type { BranchOutputs } from '#libs/batches';
import { BranchOutputError, commitToNewBranch, type GitIdentity } from '#libs/jobs';
import { migrationTitle } from '#libs/jobs';
import {
  JobName,
  OUTPUTS_QUEUE,
  type ConsumerHandle,
  type JobContext,
  type JobPayloads,
  type QueueLayer,
} from '#libs/queue';

/**
 * How often the sweep looks for finished batches whose output is still pending. The finish trigger
 * enqueues the write at once; the sweep only catches one lost to a crash in between, so it can be slow.
 */
const SWEEP_INTERVAL_MS = 30_000;

/** Paths listed in the commit message; the batch record and its items list the rest. */
const MESSAGE_PATHS = 50;

export type BranchOutputResult = 'written' | 'failed' | 'not-pending' | 'not-finished';

/**
 * Writes a finished code migration's completed files to the new branch it asked for, as a job on the
 * outputs queue (one per batch, deterministic id). Crash-safe and idempotent: the commit id is a function
 * of the batch (fixed date), an existing branch at that very commit counts as written, and the outcome is
 * recorded on the batch together with leaving the pending set.
 */
export class BranchOutputWriter {
  private readonly log = new Logger('branch-output');
  private consumer?: ConsumerHandle;

  constructor(
    private readonly jobs: QueueLayer,
    private readonly store: BatchStore,
    private readonly outputs: BranchOutputs,
    private readonly author: GitIdentity,
  ) {}

  async start(): Promise<void> {
    await this.jobs.schedule(
      OUTPUTS_QUEUE,
      'branch-output-sweep',
      { every: SWEEP_INTERVAL_MS },
      JobName.BranchOutputSweep,
      {},
    );
    this.consumer = this.jobs.consume<JobName.WriteBranchOutput | JobName.BranchOutputSweep>(
      OUTPUTS_QUEUE,
      async (job) => {
        if (job.name === JobName.BranchOutputSweep) return { enqueued: await this.outputs.enqueueFinished() };
        return { result: await this.write(job as JobContext<JobName.WriteBranchOutput>) };
      },
      { concurrency: 1 },
    );
    // Batches that finished while no worker was running (or whose trigger a crash ate) are written now.
    await this.outputs.enqueueFinished();
  }

  async stop(timeoutMs = 5000): Promise<void> {
    await this.consumer?.close(timeoutMs);
  }

  async write(job: Pick<JobContext<JobName.WriteBranchOutput>, 'data' | 'isLastAttempt'>): Promise<BranchOutputResult> {
    const { batchId } = job.data as JobPayloads[JobName.WriteBranchOutput];
    const spec = await this.outputs.pending(batchId);
    if (!spec) return 'not-pending'; // written or failed by an earlier run of this job
    if (spec.finishedAt === null) return 'not-finished'; // the finish trigger or the sweep will come back

    const files: Array<{ path: string; content: string }> = [];
    const notWritten: string[] = [];
    for await (const item of this.store.eachItem(batchId)) {
      if (item.status === 'completed' && item.result !== null) files.push({ path: item.id, content: item.result });
      else notWritten.push(item.id);
    }
    if (files.length === 0) {
      await this.outputs.record(batchId, {
        status: 'failed',
        error: 'no file was migrated: no item completed, so there is nothing to commit',
        files: 0,
        notWritten,
      });
      this.log.warn({ msg: 'branch output not written: no item completed', batchId, branch: spec.branch });
      return 'failed';
    }
    // Checked again now: an admin may have removed the repository's registration since submission.
    const refused = await this.outputs.repositoryRefusal(batchId, spec.repo);
    if (refused) {
      const all = [...notWritten, ...files.map((f) => f.path)];
      await this.outputs.record(batchId, { status: 'failed', error: refused, files: 0, notWritten: all });
      this.log.warn({ msg: 'branch output refused: repository no longer registered', batchId, branch: spec.branch });
      return 'failed';
    }
    const task = await this.store.task(batchId);
    const instruction = task && !('type' in task) && !('chat' in task) ? migrationTitle(task) : 'code migration';
    try {
      const { commit, created } = await commitToNewBranch({
        repo: spec.repo,
        base: spec.base,
        branch: spec.branch,
        files,
        message: commitMessage(batchId, instruction, files.length, notWritten),
        author: this.author,
        date: spec.finishedAt,
      });
      await this.outputs.record(batchId, { status: 'written', commit, files: files.length, notWritten });
      this.log.log({
        msg: created ? 'branch output written' : 'branch output found already written',
        batchId,
        branch: spec.branch,
        commit,
        files: files.length,
        notWritten: notWritten.length,
      });
      return 'written';
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      // A git failure may pass (a lock held by the user's git); one that names the cause will not.
      if (!(err instanceof BranchOutputError) && !job.isLastAttempt) throw err;
      await this.outputs.record(batchId, { status: 'failed', error, files: 0, notWritten });
      this.log.warn({ msg: 'branch output failed', batchId, branch: spec.branch, error });
      return 'failed';
    }
  }
}

/** Subject from the instruction's first line; the body says what was and was not migrated. */
function commitMessage(batchId: string, instruction: string, written: number, notWritten: string[]): string {
  const firstLine = instruction.split('\n', 1)[0].trim();
  const subject = firstLine.length > 72 ? `${firstLine.slice(0, 69)}...` : firstLine;
  const lines = [subject, '', `Switchyard batch ${batchId}: ${written} file${written === 1 ? '' : 's'} migrated.`];
  if (notWritten.length > 0) {
    lines.push(
      '',
      `Not migrated, left as they were (${notWritten.length}):`,
      ...notWritten.slice(0, MESSAGE_PATHS).map((p) => `  ${p}`),
    );
    if (notWritten.length > MESSAGE_PATHS) lines.push(`  ... and ${notWritten.length - MESSAGE_PATHS} more`);
  }
  return `${lines.join('\n')}\n`;
}

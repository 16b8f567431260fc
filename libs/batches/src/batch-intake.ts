import type { ProviderDirectory } from '#libs/pools/src/provider-directory.js';
import { JobName, QueueName, itemJobId, type JobQueue, type JobSpec } from '#libs/queue/src/index.js';
import { workTokens, type RouteDecision, type RoutingPolicy } from '#libs/routing/src/routing-policy.js';
import { estimateTokens } from '#libs/routing/src/token-estimate.js';
import { promptFor } from '#libs/jobs/src/item-prompt.js';
import { checkSubmission, type FieldError, type SubmissionLimits } from './batch-submission.js';
import type { BatchStore, NewItem } from './batch-store.js';
import type { BatchSubmission, ItemRoute, WorkItem } from './batch-types.js';

export class SubmissionRejected extends Error {
  constructor(readonly errors: FieldError[]) {
    super(`${errors[0].field} ${errors[0].message}`);
    this.name = 'SubmissionRejected';
  }
}

export interface Accepted {
  id: string;
  status: 'queued';
  total: number;
  /** false when an Idempotency-Key matched an earlier submission. */
  created: boolean;
}

export interface Quote {
  total: number;
  decisions: RouteDecision[];
}

const QUEUE_OF = { local: QueueName.LocalInference, cloud: QueueName.CloudInference } as const;

/**
 * Accepts batches: validate, route every item, persist, enqueue. The record is written before the jobs,
 * and jobs have deterministic ids, so a crash in between is repaired by submitting again with the same
 * Idempotency-Key, and nothing accepted (answered 202) is ever lost.
 */
export class BatchIntake {
  constructor(
    private readonly store: BatchStore,
    private readonly queue: JobQueue,
    private readonly directory: ProviderDirectory,
    private readonly policy: RoutingPolicy,
    private readonly limits: SubmissionLimits,
  ) {}

  async submit(body: unknown, idempotencyKey?: string, now = Date.now()): Promise<Accepted> {
    const check = checkSubmission(body, this.limits, now);
    if (!check.ok) throw new SubmissionRejected(check.errors);
    const { submission, deadlineAt } = check;

    if (idempotencyKey) {
      const existing = await this.store.findByIdempotencyKey(idempotencyKey);
      if (existing) return this.resume(existing, submission, deadlineAt);
    }
    const work = this.workItems(submission, deadlineAt);
    const decisions = this.policy.plan(this.routable(submission, work), await this.directory.routingState(now));
    const at = new Date(now).toISOString();
    const items: NewItem[] = work.map((w, i) => ({
      itemId: w.item.itemId,
      workTokens: workTokens({ inputTokens: w.inputTokens, expectedOutputTokens: w.expectedOutputTokens }),
      route: { target: decisions[i].target, provider: decisions[i].provider, model: decisions[i].model, reason: decisions[i].reason, at },
    }));
    const { id, created } = await this.store.create(
      { kind: submission.kind, sensitivity: submission.sensitivity, deadlineAt, task: submission.task, createdAt: now },
      items,
      idempotencyKey,
    );
    if (!created) return this.resume(id, submission, deadlineAt);
    await this.enqueue(id, work.map((w) => w.item), items.map((i) => i.route));
    return { id, status: 'queued', total: items.length, created: true };
  }

  /** The plan a submission would get, without storing or enqueuing anything. */
  async quote(body: unknown, now = Date.now()): Promise<Quote> {
    const check = checkSubmission(body, this.limits, now);
    if (!check.ok) throw new SubmissionRejected(check.errors);
    const work = this.workItems(check.submission, check.deadlineAt);
    const decisions = this.policy.plan(this.routable(check.submission, work), await this.directory.routingState(now));
    return { total: work.length, decisions };
  }

  /** Cancels what has not started. Returns null for an unknown batch. */
  async cancel(batchId: string): Promise<{ cancelled: number } | null> {
    if (!(await this.store.exists(batchId))) return null;
    const indexes = await this.store.cancelQueued(batchId);
    // The store is the truth (a worker skips cancelled items); removing the jobs just frees the queue.
    await Promise.all(
      indexes.flatMap((i) => [QueueName.LocalInference, QueueName.CloudInference].map((q) => this.queue.removeWaiting(q, itemJobId(batchId, i)))),
    );
    return { cancelled: indexes.length };
  }

  private async resume(id: string, submission: BatchSubmission, deadlineAt: number): Promise<Accepted> {
    const batch = await this.store.get(id);
    if (!batch) throw new Error(`batch ${id} named by an idempotency key is missing`);
    if (!(await this.store.isEnqueued(id))) {
      const routes = (await this.store.items(id, 0, batch.counts.total)).map((i) => i.routeHistory[0]);
      await this.enqueue(id, this.workItems(submission, deadlineAt, id).map((w) => w.item), routes);
    }
    return { id, status: 'queued', total: batch.counts.total, created: false };
  }

  private async enqueue(batchId: string, items: WorkItem[], routes: ItemRoute[]): Promise<void> {
    const byQueue = new Map<QueueName, JobSpec[]>();
    items.forEach((item, index) => {
      const queue = QUEUE_OF[routes[index].target];
      const list = byQueue.get(queue) ?? [];
      list.push({ name: JobName.RunItem, data: { ...item, batchId }, jobId: itemJobId(batchId, index) });
      byQueue.set(queue, list);
    });
    for (const [queue, jobs] of byQueue) await this.queue.enqueue(queue, jobs);
    await this.store.markEnqueued(batchId);
  }

  private workItems(s: BatchSubmission, deadlineAt: number, batchId = '') {
    const inputs =
      s.kind === 'code-migration'
        ? s.items.map((i) => ({ itemId: i.path, input: i.content, path: i.path }))
        : s.items.map((i) => ({ itemId: i.id, input: i.text, path: undefined }));
    return inputs.map((x, index) => {
      const item: WorkItem = { batchId, index, itemId: x.itemId, kind: s.kind, sensitivity: s.sensitivity, deadline: deadlineAt, input: x.input, path: x.path };
      const prompt = promptFor(item, s.task, this.limits.maxOutputTokens);
      return { item, inputTokens: estimateTokens(prompt.system) + estimateTokens(prompt.prompt), expectedOutputTokens: prompt.expectedOutputTokens };
    });
  }

  private routable(s: BatchSubmission, work: ReturnType<BatchIntake['workItems']>) {
    return work.map((w) => ({ sensitivity: s.sensitivity, deadline: w.item.deadline, inputTokens: w.inputTokens, expectedOutputTokens: w.expectedOutputTokens }));
  }
}

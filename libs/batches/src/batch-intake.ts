import { createHash, randomUUID } from 'node:crypto';
import {
  CALLBACKS_QUEUE,
  INTAKE_QUEUE,
  JobName,
  expandJobId,
  QueueKind,
  deadlinePriority,
  itemJobId,
  queueName,
  queueRefFor,
  type QueueLayer,
  type JobSpec,
  type QueueRef,
} from '#libs/queue';
import { estimateTokens, workTokensOn, type PlannedRoute, type RouteDecision, type RoutingPolicy } from '#libs/routing';
import type { RoutingState } from '#libs/routing';
import type { TokenCalibration } from '#libs/routing';
import { routableItem } from './item-estimate.js';
import type { PromptTokens } from './prompt-tokens.js';
import { promptFor } from '#libs/jobs';
import type { FieldError } from '#libs/domain';
import { checkSubmissionCompiled, type SubmissionLimits } from './batch-submission.js';
import type { BatchStore, NewBatch, NewItem } from './batch-store.js';
import type {
  BatchOrigin,
  BatchStatus,
  BatchSubmission,
  BatchTask,
  ChatItemInput,
  BranchOutputSpec,
  ItemRoute,
  WorkItem,
} from '#libs/domain';
import { detectPii, textsIn } from '#libs/privacy';
import { RepoSourceError, readRepoSource, type RepoFiles, type SkippedFiles } from '#libs/jobs';
import { checkOutputBranch } from '#libs/jobs';
import { DEFAULT_PII_RULES } from '#libs/privacy';
import { effectiveSensitivity } from '#libs/privacy';
import { taskTexts } from './task-texts.js';
import type { AuditRecorder } from '#libs/audit';
import { metrics } from '#libs/metrics';
import type { RepositoryGate } from '#libs/repositories';
import { DEFAULT_CALLBACK_EVENTS } from '#libs/callbacks';
import { batchFinishedJob } from './batch-callbacks.js';
import type { PendingIntake } from './pending-intakes.js';
import { recordBatch, recordRoute, traceIntake, type Span } from '#libs/telemetry';

/**
 * Items of a batch whose prompts intake counts with a local model's tokenizer; a larger batch has this many
 * counted, spread over it, and the rest estimated from them (BatchIntake.countInputTokens).
 */
export const EXACT_COUNTS = 2000;

/** Route entries written to the audit trail per pipeline. */
const AUDIT_CHUNK = 5000;

/** What intake reads to route: the providers' state and the learned token ratios (pools' ProviderDirectory). */
export interface RoutingStateSource {
  routingState(now?: number): Promise<RoutingState>;
  calibration(): Promise<TokenCalibration>;
}

/** What intake asks of the batch store (narrow, so its unit spec fakes it in memory rather than Redis). */
export type IntakeStore = Pick<
  BatchStore,
  | 'findByIdempotencyKey'
  | 'create'
  | 'completeCreation'
  | 'get'
  | 'isEnqueued'
  | 'markEnqueued'
  | 'eachItem'
  | 'exists'
  | 'cancel'
  | 'pending'
  | 'claimIdempotencyKey'
  | 'releaseIdempotencyKey'
>;

export class SubmissionRejected extends Error {
  constructor(readonly errors: FieldError[]) {
    super(`${errors[0].field} ${errors[0].message}`);
    this.name = 'SubmissionRejected';
  }
}

/** An Idempotency-Key already used with a different body: answered 422 naming the header. */
export class IdempotencyKeyReused extends Error {
  constructor() {
    super('was already used with a different body; send the same body to get its batch, or use a new key');
    this.name = 'IdempotencyKeyReused';
  }
}

export interface Accepted {
  id: string;
  /**
   * `validating`: accepted on its validated body; a worker writes and enqueues its items (BatchIntake.expand).
   * `queued` when created; a repeated Idempotency-Key answers the batch's status now.
   */
  status: BatchStatus;
  total: number;
  /** false when an Idempotency-Key matched an earlier submission. */
  created: boolean;
}

/** What a caller inside the system (a schedule firing) adds to a submission. */
export interface SubmitContext {
  /** The source's files, already read (and filtered) by the caller, instead of reading the repository again. */
  sourceFiles?: RepoFiles;
  origin?: BatchOrigin;
  /** The creating API key's tenant, recorded on the batch (null or absent without a key). */
  tenant?: string | null;
  /**
   * Takes the tokens of the files read from a repository (`source`) from the caller's limits, once they
   * are read: the body held none of them. Throws (an HTTP 413 or 429) to refuse the submission.
   */
  chargeSource?: (work: { kind: 'code-migration'; task: unknown; items: RepoFiles['files'] }) => Promise<void>;
  /** The submitting request's id (X-Request-Id), put on every job of the batch for the worker's log lines. */
  requestId?: string;
  /**
   * A batch of at least `deferFromItems` items is answered once its body is validated and stored, `validating`,
   * and a worker routes, writes, audits and enqueues its items (the REST API's submissions; issue 17 §2).
   */
  defer?: boolean;
  /** Run once the batch is written, before its jobs are enqueued (an expansion's check for a cancel). */
  beforeEnqueue?: (batchId: string) => Promise<void>;
  /**
   * The caller held the items to limits of its own (the OpenAI surface: OPENAI_BATCH_MAX_LINES lines of at most
   * MAX_ITEM_BYTES), so the REST API's MAX_ITEMS_PER_BATCH and per-item size do not apply; every other check does.
   */
  itemsCheckedByCaller?: boolean;
}

/** What a batch's expansion came to (BatchIntake.expand). */
export type Expansion = 'expanded' | 'failed' | 'gone';

interface EnqueuePlan {
  order?: number[];
  parkMs?: Array<number | undefined>;
  requestId?: string;
  beforeEnqueue?: (batchId: string) => Promise<void>;
}

export interface Quote {
  total: number;
  decisions: RouteDecision[];
}

/**
 * Accepts batches: validate, route every item, persist, enqueue. The record is written before the jobs,
 * and jobs have deterministic ids, so a crash in between is repaired by submitting again with the same
 * Idempotency-Key, and nothing accepted (answered 202) is ever lost.
 */
export class BatchIntake {
  /**
   * The limits for items already held to their size limits elsewhere: a worker expanding an accepted body (the
   * API held it to MAX_ITEMS_PER_BATCH and MAX_ITEM_BYTES, and a worker configured with smaller ones must not
   * refuse what was answered 202), and a submission whose caller checked its items itself (itemsCheckedByCaller:
   * the OpenAI surface's lines). Every other check is made. One object, so its schema is built once.
   */
  private readonly expansionLimits: SubmissionLimits;

  constructor(
    private readonly store: IntakeStore,
    private readonly queue: QueueLayer,
    private readonly directory: RoutingStateSource,
    private readonly policy: RoutingPolicy,
    private readonly limits: SubmissionLimits & {
      /** Items from which a deferring submission (SubmitContext.defer) is expanded by a worker; 0: never. */
      deferFromItems?: number;
    },
    /** The registered repositories a `source.repo` must be one of, for the submitting tenant. */
    private readonly repositories: RepositoryGate,
    /** Where every initial route is recorded (the audit trail); tests may leave it out. */
    private readonly audit?: AuditRecorder,
    /** Counts each item's prompt with a local model's tokenizer, where this process has one. */
    private readonly tokens?: PromptTokens,
  ) {
    this.expansionLimits = { ...limits, maxItems: Number.MAX_SAFE_INTEGER, maxItemBytes: undefined };
  }

  /** One `switchyard.intake` span around it all: the batch's id, kind and size, and each item's route (no text). */
  async submit(
    body: unknown,
    idempotencyKey?: string,
    now = Date.now(),
    context: SubmitContext = {},
  ): Promise<Accepted> {
    return this.traced(
      body,
      idempotencyKey,
      now,
      context,
      context.itemsCheckedByCaller ? this.expansionLimits : this.limits,
    );
  }

  /**
   * A batch accepted on its validated body (`validating`), expanded into items: routed, written, audited and
   * enqueued exactly as a submission answered at once, under the idempotency key its id was claimed with, at the
   * time it was accepted (so its deadline is the one the 202 promised). A crash at any point is healed by
   * running it again (its job is retried, or recovered from the crashed worker): the key names the same id,
   * and a batch already written is resumed. A body the checks refuse now leaves the batch `failed` with the
   * errors. `gone`: nothing pending (expanded before, or never staged).
   */
  async expand(batchId: string): Promise<Expansion> {
    const pending = await this.store.pending.read(batchId);
    if (!pending) return 'gone';
    if (pending.failed) return 'failed';
    const context: SubmitContext = {
      tenant: pending.tenant,
      requestId: pending.requestId,
      // A cancel asked for while it was validating: its items are cancelled before any job exists.
      beforeEnqueue: async (id) => {
        if ((await this.store.pending.seal(id)).cancelRequested) await this.store.cancel(id);
      },
    };
    try {
      const body: unknown = JSON.parse(pending.body);
      // The key names this batch for a week; an expansion that comes later (its job retried by the sweep after
      // an outage) claims it again, or, if the client has since reused it for another body, one of its own.
      let { idempotencyKey: key, ownKey } = pending;
      const bodyHash = canonicalHash(body);
      const holder = await this.store.claimIdempotencyKey(key, batchId, bodyHash);
      if (holder && holder.id !== batchId) {
        [key, ownKey] = [`intake:${batchId}`, true];
        await this.store.claimIdempotencyKey(key, batchId, bodyHash);
      }
      pending.ownKey = ownKey;
      pending.idempotencyKey = key;
      await this.traced(body, key, pending.acceptedAt, context, this.expansionLimits, Date.now());
    } catch (err) {
      if (!(err instanceof SubmissionRejected || err instanceof IdempotencyKeyReused)) throw err;
      const errors =
        err instanceof SubmissionRejected ? err.errors : [{ field: 'Idempotency-Key', message: err.message }];
      await this.store.pending.fail(batchId, errors);
      await this.afterFailure(batchId, pending);
      return 'failed';
    }
    await this.store.pending.finish(batchId);
    if (pending.ownKey) await this.store.releaseIdempotencyKey(pending.idempotencyKey);
    return 'expanded';
  }

  /**
   * The intake sweep: a batch still pending whose expansion job gave up (its last attempt failed while Redis
   * was away longer than its retries, or a worker was killed twice mid-way) or was lost gets it back, attempts
   * reset. An id listed without a record for a minute is dropped (expanded meanwhile, or its staging died
   * before the 202); a failed one is dropped too.
   */
  async requeuePending(now = Date.now()): Promise<{ requeued: number; dropped: number }> {
    let requeued = 0;
    let dropped = 0;
    for (const { id, acceptedAt } of await this.store.pending.listed()) {
      const state = await this.store.pending.state(id);
      if (state === 'pending') {
        if ((await this.queue.requeue(INTAKE_QUEUE, expandJob(id))) !== 'present') requeued += 1;
      } else if (state === 'failed') {
        // Failed by an expansion that died before it enqueued the batch's callback.
        const failed = await this.store.pending.read(id);
        if (failed) await this.afterFailure(id, failed);
        else await this.store.pending.unlist(id);
        dropped += 1;
      } else if (now - acceptedAt > 60_000) {
        await this.store.pending.unlist(id);
        dropped += 1;
      }
    }
    return { requeued, dropped };
  }

  /**
   * What a refused expansion owes: the API's own idempotency key dropped, and the batch.finished its callback
   * asked for (the batch reads `failed`, with the errors, to the deliverer as to any reader), both before the
   * batch leaves the sweep's list, so an expansion that dies in between leaves them to the sweep.
   */
  private async afterFailure(
    batchId: string,
    { callback, ownKey, idempotencyKey }: Pick<PendingIntake, 'callback' | 'ownKey' | 'idempotencyKey'>,
  ): Promise<void> {
    if (ownKey) await this.store.releaseIdempotencyKey(idempotencyKey);
    if (callback?.events.includes('batch.finished')) {
      await this.queue.enqueue(CALLBACKS_QUEUE, [batchFinishedJob(batchId)]);
    }
    await this.store.pending.unlist(batchId);
  }

  private traced(
    body: unknown,
    idempotencyKey: string | undefined,
    now: number,
    context: SubmitContext,
    limits: SubmissionLimits,
    routeAt = now,
  ): Promise<Accepted> {
    return traceIntake({ requestId: context.requestId }, async (span) => {
      const { accepted, kind } = await this.accept(span, body, idempotencyKey, now, context, limits, routeAt);
      recordBatch(span, { batchId: accepted.id, kind, items: accepted.total, created: accepted.created });
      return accepted;
    });
  }

  private async accept(
    span: Span,
    body: unknown,
    idempotencyKey: string | undefined,
    now: number,
    context: SubmitContext,
    limits: SubmissionLimits,
    /** When the items are routed: `now` (the acceptance, which sets the deadline), or later for an expansion. */
    routeAt = now,
  ): Promise<{ accepted: Accepted; kind: BatchSubmission['kind'] }> {
    const check = await checkSubmissionCompiled(body, limits, now);
    if (!check.ok) {
      const replay = idempotencyKey ? await this.replayed(idempotencyKey, body) : null;
      if (replay) return replay;
      throw new SubmissionRejected(check.errors);
    }
    const { deadlineAt } = check;
    const { kind } = check.submission;
    const deferred = context.defer ? this.deferredItems(check.submission) : 0;
    if (deferred > 0) {
      const accepted = await this.stage(body, check.submission, deadlineAt, deferred, idempotencyKey, now, context);
      return { accepted, kind };
    }
    // Routing's reads start with the idempotency lookup, not after it: a keyed submission waits one wave of
    // round trips, not three (issue 17); they are wasted only on a retry. Caught here so that a submission
    // ending before they are awaited (a retry, a reused key, a refused source) leaves no unhandled rejection.
    const reading = Promise.all([this.directory.calibration(), this.directory.routingState(routeAt)]);
    reading.catch(() => undefined);
    // The same key with another body is a client bug, not a retry: answering the first batch would hide it.
    const bodyHash = idempotencyKey ? canonicalHash(body) : undefined;
    const found = idempotencyKey ? await this.store.findByIdempotencyKey(idempotencyKey) : null;
    if (found?.bodyHash && found.bodyHash !== bodyHash) throw new IdempotencyKeyReused();
    const existing = found?.id ?? null;
    // A repeated submission finds its branch created by its own batch: only a new one must be free.
    const { submission, output } = await this.withSourceFiles(check.submission, context, existing === null);
    if (existing) return { accepted: await this.resume(existing, submission, deadlineAt, context), kind };

    const [calibration, state] = await reading;
    const work = this.workItems(submission, deadlineAt, calibration);
    const decisions = this.route(submission, work, state);
    for (const [index, d] of decisions.entries()) recordRoute(span, { index, ...d });
    const at = new Date(routeAt).toISOString();
    const items: NewItem[] = work.map((w, i) => ({
      itemId: w.item.itemId,
      sensitivity: w.item.sensitivity,
      pii: w.pii,
      // The work of every call it makes there: a long item is several calls on a small context.
      workTokens: workTokensOn(w.routable, contextOf(state, decisions[i])),
      estimatedFinishAt: decisions[i].estimatedFinishAt,
      route: {
        target: decisions[i].target,
        provider: decisions[i].provider,
        model: decisions[i].model,
        reason: decisions[i].reason,
        at,
      },
    }));
    const stored = await this.store.create(
      {
        kind: submission.kind,
        sensitivity: submission.sensitivity,
        deadlineAt,
        task: taskOf(submission),
        createdAt: now,
        maxCostUsd: submission.maxCostUsd,
        tenant: context.tenant ?? null,
        output,
        origin: context.origin,
        callback: callbackOf(submission),
      },
      items,
      {
        idempotencyKey,
        bodyHash,
        // Audited as the batch joins the indexes, once this call has written it, and before any job exists.
        whenWritten: (id) =>
          this.recordRoutes(
            id,
            work.map((w) => w.item),
            items.map((i) => i.route),
            state,
          ),
      },
    );
    const { id, created } = stored;
    if (!created) {
      if (stored.bodyHash && stored.bodyHash !== bodyHash) throw new IdempotencyKeyReused();
      return { accepted: await this.resume(id, submission, deadlineAt, context), kind };
    }
    // In the plan's order: among equal deadlines a local pool runs first come first, as the plan assumed.
    const order = work.map((_, i) => i).sort((a, b) => decisions[a].rank - decisions[b].rank || a - b);
    await this.enqueue(
      id,
      work.map((w) => w.item),
      items.map((i) => i.route),
      {
        order,
        parkMs: decisions.map((d) => d.parkMs),
        requestId: context.requestId,
        beforeEnqueue: context.beforeEnqueue,
      },
    );
    for (const [i, { route }] of items.entries()) metrics.itemRouted(route, Boolean(decisions[i].parkMs));
    return { accepted: { id, status: 'queued', total: items.length, created: true }, kind };
  }

  /**
   * How many items a submission that may be deferred holds when it is to be: at least `deferFromItems`, listed
   * in the body (a repository's files are read, and charged to the caller, while the request waits). 0: not.
   */
  private deferredItems(s: BatchSubmission): number {
    const from = this.limits.deferFromItems ?? 0;
    if (from <= 0) return 0;
    const count = s.kind === 'code-migration' ? (s.source ? 0 : (s.items?.length ?? 0)) : s.items.length;
    return count >= from ? count : 0;
  }

  /**
   * Accepts a validated body without its items (issue 17 §2): the idempotency key (the client's, or one of
   * the API's own) is claimed for a new id, the body is stored (PendingIntakes), and the batch's expansion is
   * enqueued: a 100,000-item batch is answered in about a second instead of the minute its items take to be
   * routed, written, audited and enqueued. Each step is repeatable: the same body under the same key finds its
   * id, stores the body again if the first attempt died before, and adds the same job (one id per batch).
   */
  private async stage(
    body: unknown,
    submission: BatchSubmission,
    deadlineAt: number,
    total: number,
    idempotencyKey: string | undefined,
    now: number,
    context: SubmitContext,
  ): Promise<Accepted> {
    const bodyHash = canonicalHash(body);
    let id: string = randomUUID();
    const ownKey = idempotencyKey === undefined;
    const key = idempotencyKey ?? `intake:${id}`;
    const claimed = await this.store.claimIdempotencyKey(key, id, bodyHash);
    if (claimed) {
      // A body stored before bodies were hashed has no hash to compare (as accept treats it).
      if (claimed.bodyHash && claimed.bodyHash !== bodyHash) throw new IdempotencyKeyReused();
      const written = await this.store.get(claimed.id);
      if (written && written.status !== 'validating')
        return { id: claimed.id, status: written.status, total, created: false };
      id = claimed.id;
    }
    if (!claimed || !(await this.store.pending.exists(id))) {
      await this.store.pending.stage({
        id,
        body: JSON.stringify(body),
        idempotencyKey: key,
        ownKey,
        acceptedAt: now,
        tenant: context.tenant ?? null,
        requestId: context.requestId,
        kind: submission.kind,
        sensitivity: submission.sensitivity,
        deadlineAt,
        total,
        ...(submission.callback && { callback: callbackOf(submission) }),
      });
    }
    await this.queue.enqueue(INTAKE_QUEUE, [expandJob(id)]);
    return { id, status: 'validating', total, created: claimed === null };
  }

  /** The plan a submission would get, without storing or enqueuing anything. */
  async quote(
    body: unknown,
    now = Date.now(),
    context: Pick<SubmitContext, 'tenant' | 'chargeSource'> = {},
  ): Promise<Quote> {
    const check = await checkSubmissionCompiled(body, this.limits, now);
    if (!check.ok) throw new SubmissionRejected(check.errors);
    const { submission } = await this.withSourceFiles(check.submission, context, true);
    const [calibration, state] = await Promise.all([this.directory.calibration(), this.directory.routingState(now)]);
    const work = this.workItems(submission, check.deadlineAt, calibration);
    const decisions = this.route(check.submission, work, state);
    return { total: work.length, decisions: this.withinBudget(check.submission.maxCostUsd, work, decisions, state) };
  }

  /**
   * A quote's plan under the batch's maxCostUsd, as the workers will carry it out: the budget counts what every
   * item costs, taken in the order they are enqueued (rank), and a cloud item whose estimated cost no longer fits
   * runs on a local model, where a worker moves it once the budget cannot cover its call. Each call holds its
   * worst case while it runs, so a run may move an item or two more than the quote does, never fewer.
   */
  private withinBudget(
    maxCostUsd: number | undefined,
    work: ReturnType<BatchIntake['workItems']>,
    decisions: PlannedRoute[],
    state: RoutingState,
  ): PlannedRoute[] {
    const locals = state.providers.filter((p) => p.target === 'local');
    if (maxCostUsd === undefined || locals.length === 0) return decisions;
    let spent = 0;
    const over: number[] = [];
    for (const i of decisions.map((_, i) => i).sort((a, b) => decisions[a].rank - decisions[b].rank)) {
      const d = decisions[i];
      if (d.target === 'cloud' && spent + d.estimatedCostUsd > maxCostUsd) over.push(i);
      else spent += d.estimatedCostUsd;
    }
    if (over.length === 0) return decisions;
    const planned = this.policy.plan(
      over.map((i) => work[i].routable),
      { now: state.now, providers: locals },
    );
    const within = [...decisions];
    over.forEach((i, k) => {
      within[i] = { ...planned[k], rank: decisions[i].rank, reason: `batch budget reached; ${planned[k].reason}` };
    });
    return within;
  }

  /** Cancels what has not started; running items are aborted by their workers. Null for an unknown batch. */
  async cancel(batchId: string): Promise<{ cancelled: number } | null> {
    if (!(await this.store.exists(batchId))) {
      // Still validating: cancelled as soon as its items exist (BatchIntake.expand), before they run.
      const pending = await this.store.pending.view(batchId);
      if (!pending || pending.status === 'failed') return pending && { cancelled: 0 };
      if (await this.store.pending.requestCancel(batchId)) return { cancelled: pending.counts.total };
      // Written meanwhile: cancelled as any batch.
      if (!(await this.store.exists(batchId))) return null;
    }
    const indexes = new Set(await this.store.cancel(batchId));
    // The store is the truth (a worker skips cancelled items); removing the jobs just frees the queue.
    for await (const i of this.store.eachItem(batchId)) {
      if (indexes.has(i.index) && i.route)
        await this.queue.removeWaiting(queueRefFor(i.route.target, i.route.provider), itemJobId(batchId, i.index));
    }
    return { cancelled: indexes.size };
  }

  /**
   * A code migration over a repository becomes one item per matching file, read from git at the ref (or
   * given, already read, by the caller). The repository must be registered for the tenant (as its real
   * path, which is what is read and written). An output branch must be a valid name, and new unless
   * `branchMustBeNew` is false; it is based on the commit the files were read from.
   */
  private async withSourceFiles(
    s: BatchSubmission,
    context: Pick<SubmitContext, 'sourceFiles' | 'tenant' | 'chargeSource'>,
    branchMustBeNew: boolean,
  ): Promise<{ submission: BatchSubmission; output?: BranchOutputSpec }> {
    if (s.kind !== 'code-migration' || !s.source) return { submission: s };
    let read: RepoFiles;
    let repo: string;
    try {
      repo = await this.repositories.authorize(s.source.repo, context.tenant ?? null);
      read = context.sourceFiles ?? (await readRepoSource({ ...s.source, repo }));
      if (s.output && branchMustBeNew) await checkOutputBranch(repo, s.output.branch);
    } catch (err) {
      if (err instanceof RepoSourceError) throw new SubmissionRejected([{ field: err.field, message: err.message }]);
      throw err;
    }
    const { files, commit } = read;
    if (files.length === 0)
      throw new SubmissionRejected([{ field: 'source.include', message: noFileMessage(read.skipped) }]);
    if (files.length > this.limits.maxItems)
      throw new SubmissionRejected([
        { field: 'source', message: `matches ${files.length} files; a batch holds at most ${this.limits.maxItems}` },
      ]);
    await context.chargeSource?.({ kind: 'code-migration', task: s.task, items: files });
    // The real path the registry resolved: the worker that writes the branch writes exactly there.
    const output = s.output ? { branch: s.output.branch, repo, base: commit } : undefined;
    return { submission: { ...s, items: files }, output };
  }

  private async resume(
    id: string,
    submission: BatchSubmission,
    deadlineAt: number,
    { requestId, beforeEnqueue }: Pick<SubmitContext, 'requestId' | 'beforeEnqueue'>,
  ): Promise<Accepted> {
    const batch = await this.store.get(id);
    if (!batch) throw new Error(`batch ${id} named by an idempotency key is missing`);
    // The earlier attempt may have died before the batch joined the indexes (another slot on a Cluster).
    await this.store.completeCreation(id);
    if (!(await this.store.isEnqueued(id))) {
      const routes: ItemRoute[] = [];
      for await (const i of this.store.eachItem(id)) routes.push(i.routeHistory[0]);
      const items = this.workItems(submission, deadlineAt, undefined, id).map((w) => w.item);
      // The earlier attempt may have died before or after its audit write; a route recorded twice beats one missing.
      await this.recordRoutes(id, items, routes, await this.directory.routingState());
      await this.enqueue(id, items, routes, { requestId, beforeEnqueue });
    }
    return {
      id,
      status: batch.status === 'validating' ? 'queued' : batch.status,
      total: batch.counts.total,
      created: false,
    };
  }

  /**
   * The batch an Idempotency-Key already made from this same body, once it is whole (written and enqueued): a
   * client's retry gets it even when the body would now be refused (an absolute deadline since passed).
   */
  private async replayed(
    idempotencyKey: string,
    body: unknown,
  ): Promise<{ accepted: Accepted; kind: BatchSubmission['kind'] } | null> {
    const found = await this.store.findByIdempotencyKey(idempotencyKey);
    if (!found?.bodyHash || found.bodyHash !== canonicalHash(body)) return null;
    const batch = await this.store.get(found.id);
    if (!batch || batch.status === 'validating' || !(await this.store.isEnqueued(found.id))) return null;
    return {
      accepted: { id: found.id, status: batch.status, total: batch.counts.total, created: false },
      kind: batch.kind,
    };
  }

  /**
   * Every initial route goes to the audit trail before any job exists, so nothing can run (or leave)
   * unaudited: if the write fails the submission fails before enqueuing, and a retry with the same
   * Idempotency-Key records and enqueues it.
   */
  private async recordRoutes(
    batchId: string,
    items: WorkItem[],
    routes: ItemRoute[],
    state: RoutingState,
  ): Promise<void> {
    if (!this.audit) return;
    const clearances = new Map(state.providers.map((p) => [`${p.target}:${p.name}`, p.clearance]));
    // In chunks: one pipeline of a 100,000-item batch's entries held all of them at once (issue 17 §2).
    for (let from = 0; from < items.length; from += AUDIT_CHUNK) {
      const chunk = items.slice(from, from + AUDIT_CHUNK);
      await this.audit.record(
        chunk.map((item, k) => {
          const index = from + k;
          return {
            kind: 'route' as const,
            batchId,
            index,
            itemId: item.itemId,
            target: routes[index].target,
            provider: routes[index].provider,
            clearance: clearances.get(`${routes[index].target}:${routes[index].provider}`),
            sensitivity: item.sensitivity,
            reason: routes[index].reason,
            at: routes[index].at,
          };
        }),
      );
    }
  }

  /**
   * `order`: the order the jobs are added in (by default the items'). `parkMs[i]`: item i waits that long before
   * its provider sees it (RoutingPolicy parks it for a provider that is down). `requestId`: the submitting request's.
   */
  private async enqueue(
    batchId: string,
    items: WorkItem[],
    routes: ItemRoute[],
    { order = items.map((_, i) => i), parkMs = [], requestId, beforeEnqueue }: EnqueuePlan = {},
  ): Promise<void> {
    await beforeEnqueue?.(batchId);
    const byQueue = new Map<string, { ref: QueueRef; jobs: JobSpec[] }>();
    for (const index of order) {
      const item = items[index];
      const ref = queueRefFor(routes[index].target, routes[index].provider);
      const entry = byQueue.get(queueName(ref)) ?? { ref, jobs: [] };
      entry.jobs.push({
        name: JobName.RunItem,
        data: requestId === undefined ? { ...item, batchId } : { ...item, batchId, requestId },
        jobId: itemJobId(batchId, index),
        // Local queues run earliest deadline first; cloud providers serve all at once.
        priority: ref.kind === QueueKind.LocalInference ? deadlinePriority(item.deadline) : undefined,
        delayMs: parkMs[index],
      });
      byQueue.set(queueName(ref), entry);
    }
    for (const { ref, jobs } of byQueue.values()) await this.queue.enqueue(ref, jobs);
    await this.store.markEnqueued(batchId);
  }

  /** Each item with its estimate, input and output corrected by `calibration` where given (routing needs it; storing does not). */
  private workItems(s: BatchSubmission, deadlineAt: number, calibration?: TokenCalibration, batchId = '') {
    const inputs: Array<{ itemId: string; input: string; path?: string; model?: string; texts?: string[] }> =
      s.kind === 'code-migration'
        ? (s.items ?? []).map((i) => ({ itemId: i.path, input: i.content, path: i.path, model: i.model ?? s.model }))
        : s.kind === 'chat'
          ? s.items.map((i) => chatInput(i, s.model, this.limits.localModels))
          : s.items.map((i) => ({ itemId: i.id, input: i.text, path: undefined, model: i.model ?? s.model }));
    const rules = this.limits.piiRules ?? DEFAULT_PII_RULES;
    const task = taskOf(s);
    // The task goes into every item's prompt: what it holds raises every item.
    const inTask = detectPii(taskTexts(task), rules);
    const work = inputs.map((x, index) => {
      // Personal data raises the item's floor: a "public" document holding card numbers is confidential.
      // Every field that reaches a provider counts: the text, a code item's path, the task's strings.
      const inItem = detectPii(x.texts ?? (x.path === undefined ? [x.input] : [x.input, x.path]), rules);
      const privacy = effectiveSensitivity(s.sensitivity, [inItem, inTask]);
      const pii = { declared: s.sensitivity, categories: privacy.categories, raised: privacy.raised };
      const item: WorkItem = {
        batchId,
        index,
        itemId: x.itemId,
        kind: s.kind,
        sensitivity: privacy.sensitivity,
        deadline: deadlineAt,
        input: x.input,
        path: x.path,
        model: x.model,
      };
      return { item, pii };
    });
    this.countInputTokens(
      work.map((w) => w.item),
      task,
    );
    return work.map(({ item, pii }) => ({
      item,
      pii,
      routable: routableItem(item, task, this.limits.maxOutputTokens, calibration),
    }));
  }

  /**
   * Each item's prompt tokens as its local model's tokenizer reads them (item.inputTokens), where this process
   * has that tokenizer. Exact for a batch of up to EXACT_COUNTS items. In a larger one, EXACT_COUNTS items
   * spread evenly over the batch are counted, and every other item is estimated (~4 characters a token)
   * times what the counted items of its model measured over their own estimates: the tokenizer takes
   * ~0.15 ms an item (issue 17 §2: 15 s of a 100,000-item batch's intake). What an item really reads is
   * counted when it runs (the local model, the provider's usage); costs are charged from that, and the
   * calibration (TokenCalibration) learns from it against this figure.
   */
  private countInputTokens(items: WorkItem[], task: BatchTask): void {
    if (!this.tokens) return;
    const stride = Math.max(1, Math.ceil(items.length / EXACT_COUNTS));
    const ratios = new Map<string | undefined, { counted: number; estimated: number }>();
    const estimates: number[] = new Array(items.length);
    for (const [index, item] of items.entries()) {
      const prompt = promptFor(item, task, this.limits.maxOutputTokens);
      if (index % stride !== 0) {
        estimates[index] = estimateTokens(prompt.system) + estimateTokens(prompt.prompt);
        continue;
      }
      const counted = this.tokens.count(prompt.system, prompt.prompt, item.model);
      if (counted === null) continue;
      item.inputTokens = counted;
      if (stride === 1) continue;
      const sums = ratios.get(item.model) ?? { counted: 0, estimated: 0 };
      sums.counted += counted;
      sums.estimated += estimateTokens(prompt.system) + estimateTokens(prompt.prompt);
      ratios.set(item.model, sums);
    }
    if (stride === 1) return;
    for (const [index, item] of items.entries()) {
      const sums = ratios.get(item.model);
      if (index % stride === 0 || !sums || sums.estimated === 0) continue;
      item.inputTokens = Math.max(1, Math.round((estimates[index] * sums.counted) / sums.estimated));
    }
  }

  /**
   * Routes every item. Items pinned to a local model are planned against that model alone; the rest
   * against every provider. Each group is planned in order so later items see the backlog earlier ones made.
   */
  private route(s: BatchSubmission, work: ReturnType<BatchIntake['workItems']>, state: RoutingState): PlannedRoute[] {
    const decisions: PlannedRoute[] = new Array(work.length);
    const groups = new Map<string | undefined, number[]>();
    for (const [i, w] of work.entries()) {
      const group = groups.get(w.item.model);
      if (group) group.push(i);
      else groups.set(w.item.model, [i]);
    }
    for (const [model, indexes] of groups) {
      const providers =
        model === undefined ? state.providers : state.providers.filter((p) => p.target === 'local' && p.name === model);
      const planned = this.policy.plan(
        indexes.map((i) => work[i].routable),
        { now: state.now, providers },
      );
      indexes.forEach((i, k) => {
        const notes = [
          ...(work[i].pii.raised
            ? [`personal data (${work[i].pii.categories.join(', ')}) raised sensitivity to ${work[i].item.sensitivity}`]
            : []),
          ...(model === undefined ? [] : [`pinned to local model ${model}`]),
        ];
        decisions[i] =
          notes.length === 0 ? planned[k] : { ...planned[k], reason: `${notes.join('; ')}; ${planned[k].reason}` };
      });
    }
    return decisions;
  }
}

/** What a batch's items are asked to do: its task, or for chat items the mark that each body is its own. */
export function taskOf(s: BatchSubmission): BatchTask {
  return s.kind === 'chat' ? { chat: true } : s.task;
}

/**
 * A chat item as a work item: its validated body as the input the worker reads, every string of that body for PII
 * detection (the body goes to its provider whole: a card number in a response_format schema's description or in a
 * stop sequence leaves as surely as one in a message), and a pin to a local model when the body names one (another
 * name is the client's own, OpenAI's for instance, and routing picks the model).
 */
function chatInput(i: ChatItemInput, batchModel: string | undefined, localModels: readonly string[]) {
  const pinned = i.body.model !== undefined && localModels.includes(i.body.model) ? i.body.model : batchModel;
  return {
    itemId: i.id,
    input: JSON.stringify(i.body),
    path: undefined,
    model: pinned,
    texts: textsIn(i.body),
  };
}

/** The context of the provider a decision routes to (undefined: unknown, or not in this state). */
function contextOf(state: RoutingState, decision: RouteDecision): number | undefined {
  return state.providers.find((p) => p.target === decision.target && p.name === decision.provider)?.contextTokens;
}

/** SHA-256 of the body as JSON with every object's keys sorted: the same body however its keys are ordered. */
export function canonicalHash(body: unknown): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value === null || typeof value !== 'object') return value;
    const object = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(object)
        .sort()
        .map((k) => [k, canonical(object[k])]),
    );
  };
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)))
    .digest('hex');
}

/** The callback a batch is stored with: its events as asked (the default when none), each once. */
function callbackOf(s: BatchSubmission): NewBatch['callback'] {
  return s.callback && { url: s.callback.url, events: [...new Set(s.callback.events ?? DEFAULT_CALLBACK_EVENTS)] };
}

/** A batch's expansion: one job id per batch, so staging it again or requeueing it never adds a second. */
function expandJob(batchId: string): JobSpec<JobName.ExpandBatch> {
  return { name: JobName.ExpandBatch, data: { batchId }, jobId: expandJobId(batchId) };
}

/** Why a repository source gave no item: nothing matched, or what matched could not be an item. */
function noFileMessage(skipped: SkippedFiles): string {
  const reasons = [
    [skipped.binary, 'binary'],
    [skipped.notUtf8, 'not UTF-8'],
    [skipped.tooLarge, 'over 1 MiB'],
  ] as const;
  const found = reasons.filter(([n]) => n > 0).map(([n, why]) => `${n} ${why}`);
  if (found.length === 0) return 'matches no file in the repository at that ref';
  const total = skipped.binary + skipped.notUtf8 + skipped.tooLarge;
  return `matches ${total} file(s) at that ref, none of which can be migrated (${found.join(', ')}: skipped)`;
}

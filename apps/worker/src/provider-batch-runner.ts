import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { routableItem, type BatchStore } from '#libs/batches';
import type { CloudProviderConfig } from '#libs/config';
import type { BatchTask, WorkItem } from '#libs/domain';
import { CallTally, promptInputBound, runItem, type ItemModel, type Prompt } from '#libs/jobs';
import type { LineSettlement, OpenProviderBatch, PendingLine, ProviderBatchLedger } from '#libs/pools';
import {
  FINAL_BATCH_STATUSES,
  ProviderError,
  type BatchLineResult,
  type CompletionResult,
  type ProviderBatchApi,
} from '#libs/providers';
import { PermanentJobError, type JobContext, type JobName } from '#libs/queue';
import { BATCH_ESCALATION_LEAD_MS, callsOn, costOf } from '#libs/routing';
import type { ItemOutcome } from './item-outcome.js';
import type { ItemRerouter } from './item-rerouter.js';
import type { ItemStore } from './item-store.js';
import { itemLogFields } from './item-log-fields.js';
import { metrics } from '#libs/metrics';

/** A record whose upload or creation failed is retried (found by its flushId first) after this. */
const RESUBMIT_AFTER_MS = 30_000;

/**
 * How long a worker's hold on a route's round lasts unless renewed: what a worker killed mid-round keeps the
 * others waiting at most. The round renews it a third of the way in, before each provider batch and as it
 * goes through lines; a long provider call (a 50,000-line upload) may outlast it, and a renewal that finds
 * another worker holding the round ends this one before it writes anything more.
 */
const ROUND_LEASE_MS = 10_000;

/** Thrown when a worker finds its round's lease taken over: the round stops where it is. */
class RoundLost extends Error {}

export interface ProviderBatchRunnerDeps {
  /** The batch tier's route (its `batch` settings, price, context). */
  route: CloudProviderConfig;
  api: Pick<ProviderBatchApi, 'submit' | 'find' | 'status' | 'cancel' | 'results' | 'lineBody'>;
  ledger: Pick<
    ProviderBatchLedger,
    | 'addPending'
    | 'holds'
    | 'pending'
    | 'open'
    | 'settle'
    | 'update'
    | 'openBatches'
    | 'close'
    | 'claimRound'
    | 'releaseRound'
  >;
  store: Pick<
    ItemStore,
    'transitionOn' | 'task' | 'item' | 'isCancelRequested' | 'reserveBudget' | 'releaseBudget' | 'markUsageEstimated'
  > &
    Pick<BatchStore, 'chargeLate'>;
  rerouter: Pick<ItemRerouter, 'reroute'>;
  /** A job whose item was moved elsewhere makes sure a job waits there (ItemEndings.elsewhere: crash-safe reroutes). */
  elsewhere: (item: WorkItem) => Promise<ItemOutcome>;
  /** Token counts as the route's synchronous calls estimate them (the same split decisions). */
  counter: Pick<ItemModel<unknown>, 'countTokens' | 'promptTokens'>;
  maxOutputTokens: number;
  escalationLeadMs?: number;
}

/**
 * The batch tier (issue 16 §3): items routed to `<provider>.batch` go into the provider's own Batch API instead
 * of one request each. Its queue's jobs hand the item's request to the ledger (Redis) and end; a timer groups
 * the waiting lines into one provider batch (audited per line, uploaded as JSONL, created with the 24 h
 * window), polls the open ones, and maps each output line back to its item by custom_id — checked as a
 * synchronous answer would be, recorded once through the store's guarded transition at the batch price. A line
 * that fails, a batch that fails or expires, and an item whose deadline comes near first move to another route;
 * a batch whose items were all cancelled or moved is cancelled at the provider. Everything it needs after a
 * crash is in the ledger: a restarted worker picks the open provider batches up where they were.
 */
export class ProviderBatchRunner {
  private readonly log = new Logger('provider-batch');
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private readonly lastPolled = new Map<string, number>();
  /** This runner's name on the route's round lease. */
  private readonly owner = randomUUID();
  private leaseRenewedAt = 0;

  constructor(private readonly deps: ProviderBatchRunnerDeps) {}

  private get route(): string {
    return this.deps.route.name;
  }

  private get settings() {
    return this.deps.route.batch!;
  }

  /** The batch route's queue processor: the item's request joins the ledger, and the job ends. */
  async run(job: JobContext<JobName.RunItem>): Promise<ItemOutcome> {
    const { store, rerouter, ledger } = this.deps;
    const item = job.data;
    const started = await store.transitionOn({
      batchId: item.batchId,
      index: item.index,
      provider: this.route,
      from: ['queued', 'running'],
      to: 'running',
    });
    if (started === 'elsewhere') return this.deps.elsewhere(item);
    if (started !== 'applied') return { kind: 'skipped' };
    // Run again after a crash that followed the hand-off: its line waits or is in a provider batch already.
    if (await ledger.holds(this.route, job.id)) return { kind: 'handed-off' };
    const task = await store.task(item.batchId);
    if (!task) return { kind: 'failed', error: new PermanentJobError(`batch ${item.batchId} has no record`) };
    // One line is one call: an item that needs several (parts, combining rounds) runs on a synchronous route.
    const calls = callsOn(routableItem(item, task, this.deps.maxOutputTokens), this.deps.route.contextTokens);
    if (!calls.ok || calls.calls > 1) {
      const moved = await rerouter.reroute(item, this.from, {
        why: `${this.route} takes items of one call; this one needs more`,
        left: { ruleOut: true },
      });
      return moved ? { kind: 'rerouted', to: moved.provider } : { kind: 'skipped' };
    }
    const captured = await this.firstCall(item, task);
    const body = this.deps.api.lineBody({
      itemRef: job.id,
      sensitivity: item.sensitivity,
      system: captured.prompt.system,
      prompt: captured.prompt.prompt,
      maxTokens: captured.prompt.maxTokens,
      jsonSchema: captured.jsonSchema,
      chat: captured.prompt.chat,
    });
    // The line's worst case is held in the batch's budget from now until its result is recorded (or it moves),
    // as a synchronous call's is for the call: a budget that cannot cover it sends the item to a local model.
    const reservedUsd = costOf(
      { inputTokens: promptInputBound(captured.prompt, captured.jsonSchema), outputTokens: captured.prompt.maxTokens },
      this.deps.route.price,
    );
    if (!(await store.reserveBudget(item.batchId, reservedUsd))) {
      const moved = await rerouter.reroute(item, this.from, { why: 'batch budget reached', localOnly: true });
      return moved ? { kind: 'rerouted', to: moved.provider } : { kind: 'skipped' };
    }
    const added = await ledger.addPending(this.route, {
      customId: job.id,
      batchId: item.batchId,
      index: item.index,
      itemRef: job.id,
      sensitivity: item.sensitivity,
      body,
      item,
      deadline: item.deadline,
      queuedAt: Date.now(),
      reservedUsd,
    });
    // The job ran before (a crash after the line was added): the line holds its own reservation already.
    if (!added) await store.releaseBudget(item.batchId, reservedUsd);
    return { kind: 'handed-off' };
  }

  start(): void {
    const everyMs = Math.max(10, Math.min(this.settings.pollMs, Math.max(this.settings.collectMs, 10)));
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = this.tick()
        .catch((err: unknown) =>
          this.log.warn({ msg: 'provider batch round failed', route: this.route, error: String(err) }),
        )
        .finally(() => (this.ticking = undefined));
    }, everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
  }

  /**
   * One round: waiting lines into a provider batch when due, then every open one looked at. Every worker runs
   * the timer; one at a time runs the round (the ledger's lease), so no line is submitted, settled or moved
   * twice. The lease is renewed before each provider batch; one that cannot be renewed ends the round there.
   */
  async tick(now = Date.now()): Promise<void> {
    const { ledger } = this.deps;
    if (!(await this.claimRound())) return;
    try {
      await this.flush(now);
      for (const batch of await ledger.openBatches(this.route)) {
        await this.keepRound();
        await this.look(batch, now);
      }
    } catch (err) {
      if (!(err instanceof RoundLost)) throw err;
      this.log.warn({ msg: 'provider batch round taken over by another worker', route: this.route });
    } finally {
      await ledger.releaseRound(this.route, this.owner);
    }
  }

  private async claimRound(): Promise<boolean> {
    const held = await this.deps.ledger.claimRound(this.route, this.owner, ROUND_LEASE_MS);
    if (held) this.leaseRenewedAt = Date.now();
    return held;
  }

  /** Renews the round's lease when a third of it has gone; throws RoundLost when another worker holds it now. */
  private async keepRound(): Promise<void> {
    if (Date.now() - this.leaseRenewedAt < ROUND_LEASE_MS / 3) return;
    if (!(await this.claimRound())) throw new RoundLost();
  }

  private async flush(now: number): Promise<void> {
    const pending = await this.deps.ledger.pending(this.route);
    if (pending.length === 0) return;
    const { collectMs, maxLines } = this.settings;
    if (pending.length < maxLines && now - pending[0].queuedAt < collectMs) return;
    const lines = pending.slice(0, maxLines);
    const batch: OpenProviderBatch = {
      flushId: `${this.route}-${randomUUID()}`,
      providerBatchId: null,
      lines,
      createdAt: now,
      settled: [],
    };
    // Recorded before anything leaves: a crash after the upload leaves a record that finds its provider batch.
    // Not opened: a worker whose lease ran out mid-round took some of these lines first; they go with its batch.
    if (!(await this.deps.ledger.open(this.route, batch))) return;
    await this.submit(batch);
  }

  private async submit(batch: OpenProviderBatch): Promise<void> {
    const lines = this.unsettled(batch);
    if (lines.length === 0) return this.deps.ledger.close(this.route, batch, null);
    try {
      const created = await this.deps.api.submit(lines, batch.flushId);
      batch.providerBatchId = created.id;
      await this.deps.ledger.update(this.route, batch.flushId, { providerBatchId: created.id });
      this.log.log({
        msg: 'provider batch created',
        route: this.route,
        providerBatch: created.id,
        lines: lines.length,
      });
    } catch (err) {
      if (err instanceof ProviderError && err.retryable) {
        this.log.warn({
          msg: 'provider batch not created yet',
          route: this.route,
          flush: batch.flushId,
          error: err.message,
        });
        return;
      }
      // Refused for good (clearance, a 4xx): its items go elsewhere.
      const why = `${this.route} refused the provider batch: ${err instanceof Error ? err.message : String(err)}`;
      for (const line of lines) await this.moveOff(line, why, batch);
      await this.deps.ledger.close(this.route, batch, null);
    }
  }

  /** An open provider batch: cancels and near deadlines first, then its status, and its results once it ended. */
  private async look(batch: OpenProviderBatch, now: number): Promise<void> {
    if (!batch.providerBatchId) {
      if (now - batch.createdAt < RESUBMIT_AFTER_MS) return;
      const found = await this.deps.api.find(batch.flushId);
      if (found) {
        batch.providerBatchId = found.id;
        await this.deps.ledger.update(this.route, batch.flushId, { providerBatchId: found.id });
      } else {
        // Noted before it is tried: one that fails again is tried next after RESUBMIT_AFTER_MS, not every round.
        batch.createdAt = now;
        await this.deps.ledger.update(this.route, batch.flushId, { createdAt: now });
        await this.settleLinesThatLeft(batch);
        return this.submit(batch);
      }
    }
    for (const line of this.unsettled(batch)) {
      await this.keepRound();
      if (await this.deps.store.isCancelRequested(line.batchId)) {
        await this.deps.store.transitionOn({
          batchId: line.batchId,
          index: line.index,
          provider: this.route,
          from: ['running', 'queued'],
          to: 'cancelled',
          update: { error: 'cancelled while in a provider batch' },
        });
        await this.settled(line, batch, 'abandoned');
      } else if (line.deadline - now < (this.deps.escalationLeadMs ?? BATCH_ESCALATION_LEAD_MS)) {
        const why = `escalated: ${this.route}'s provider batch is not done near the deadline`;
        await this.moveOff(line, why, batch, { how: 'abandoned' });
      }
    }
    const id = batch.providerBatchId!;
    if (this.unsettled(batch).length === 0 && !batch.cancelling) {
      // Nothing left to wait for: the provider stops, and charges only for lines it finished before.
      const status = await this.deps.api.status(id);
      if (!FINAL_BATCH_STATUSES.has(status.status)) await this.deps.api.cancel(id);
      this.log.log({
        msg: 'provider batch cancelled: no line is wanted any more',
        route: this.route,
        providerBatch: id,
      });
      if (!batch.abandoned?.length) {
        await this.deps.ledger.close(this.route, batch, null);
        return;
      }
      // Lines it had may be done and billed already: read them once the cancel has taken (polled below).
      batch.cancelling = true;
      await this.deps.ledger.update(this.route, batch.flushId, { cancelling: true });
    }
    if (now - (this.lastPolled.get(id) ?? 0) < this.settings.pollMs) return;
    this.lastPolled.set(id, now);
    const status = await this.deps.api.status(id);
    if (!FINAL_BATCH_STATUSES.has(status.status)) return;
    // Each line's body, what its usage is estimated from where the provider reported none.
    const sent = new Map(batch.lines.map((line) => [line.customId, line.body]));
    const results = status.outputFileId || status.errorFileId ? await this.deps.api.results(status, sent) : new Map();
    for (const line of this.unsettled(batch)) {
      await this.keepRound();
      await this.settle(line, results.get(line.customId), status.status, batch);
    }
    await this.chargeAbandoned(batch, results);
    const took = status.status === 'completed' && status.completedAt ? status.completedAt - status.createdAt : null;
    await this.deps.ledger.close(this.route, batch, took);
    this.lastPolled.delete(id);
    this.log.log({ msg: 'provider batch done', route: this.route, providerBatch: id, status: status.status, ms: took });
  }

  /** One line's result onto its item: the answer checked and recorded once, or the item moved. */
  private async settle(
    line: PendingLine,
    result: BatchLineResult | undefined,
    status: string,
    batch: OpenProviderBatch,
  ): Promise<void> {
    if (!result) return this.moveOff(line, `${this.route}: the provider batch ${status} without this line`, batch);
    if (result.kind === 'failed') return this.moveOff(line, `${this.route} failed the line: ${result.message}`, batch);
    const task = await this.deps.store.task(line.batchId);
    if (!task) return;
    const tally = new CallTally();
    const answered = await runItem(
      this.cannedModel(result.completion),
      line.item,
      task,
      this.deps.maxOutputTokens,
      undefined,
      tally,
    );
    const costUsd = costOf(tally.usage, this.deps.route.price);
    // Billed by the provider whatever the check below makes of it.
    metrics.callAnswered(this.from, tally.usage, costUsd);
    if (result.completion.usageEstimated) {
      metrics.usageEstimated(this.from);
      await this.deps.store.markUsageEstimated(line.batchId, line.index);
    }
    if (answered.kind !== 'answered') {
      const why = `${this.route}'s answer failed its check`;
      await this.moveOff(line, why, batch, { spent: { ...tally.usage, costUsd }, errorCode: 'output_check_failed' });
      return;
    }
    const recorded = await this.deps.store.transitionOn({
      batchId: line.batchId,
      index: line.index,
      provider: this.route,
      from: ['running'],
      to: 'completed',
      update: {
        result: answered.result,
        diff: answered.diff ?? undefined,
        inputTokens: tally.usage.inputTokens,
        outputTokens: tally.usage.outputTokens,
        costUsd,
      },
    });
    if (recorded === 'applied') this.measureEnd(line, 'completed');
    await this.settled(line, batch);
    this.log.log({
      msg: recorded === 'applied' ? 'item completed' : 'item result discarded (already finished or moved)',
      ...itemLogFields(line.item),
      target: 'cloud',
      provider: this.route,
      inputTokens: tally.usage.inputTokens,
      outputTokens: tally.usage.outputTokens,
      costUsd,
    });
  }

  private async moveOff(
    line: PendingLine,
    why: string,
    batch: OpenProviderBatch,
    opts: {
      how?: LineSettlement;
      spent?: { inputTokens: number; outputTokens: number; costUsd: number };
      /** The item's errorCode if no route is left to it. */
      errorCode?: string;
    } = {},
  ): Promise<void> {
    const { how, spent, errorCode = 'provider_batch_failed' } = opts;
    // The item moves before its line is marked settled. The item's own job ended when the line was handed off, so
    // nothing else would move it: marked first, a worker killed before the move left it running on this route for
    // ever. Moved first, a crash leaves the line unsettled and the next round comes here again, where the guarded
    // move finds the item gone and only makes sure its new route has a job (a crash may have come before that too).
    // Ruled out for this item: it should neither park for the batch tier nor come back to it (a failed line, an
    // expired batch, a deadline too near: a synchronous route is what is left to it).
    const moved = await this.deps.rerouter.reroute(line.item, this.from, {
      why,
      left: { ruleOut: true },
      ...(spent && { spent }),
    });
    if (moved) {
      this.log.warn({ msg: 'item rerouted', ...itemLogFields(line.item), from: this.route, to: moved.provider, why });
    } else {
      const failed = await this.deps.store.transitionOn({
        batchId: line.batchId,
        index: line.index,
        provider: this.route,
        from: ['running'],
        to: 'failed',
        // What the provider billed for the line (an answer that failed its check) stays on the item it fails.
        update: { error: why, errorCode, ...spent },
      });
      if (failed === 'applied') this.measureEnd(line, 'failed');
      if (failed === 'elsewhere') await this.deps.elsewhere(line.item);
    }
    await this.settled(line, batch, how);
  }

  /**
   * Before a provider batch is submitted again (its creation failed, or a worker died before it was recorded):
   * lines whose items left this route meanwhile (moved by a round a crash cut short, cancelled) are settled, not
   * sent, so no item is paid for twice; one moved has its new route's job made sure of.
   */
  private async settleLinesThatLeft(batch: OpenProviderBatch): Promise<void> {
    for (const line of this.unsettled(batch)) {
      await this.keepRound();
      const view = await this.deps.store.item(line.batchId, line.index);
      if (view?.status === 'running' && view.route?.provider === this.route) continue;
      if (view?.status === 'queued') await this.deps.elsewhere(line.item);
      await this.settled(line, batch);
    }
  }

  /**
   * The line needs nothing more from its provider batch: marked so in the ledger first (one field, whatever
   * the batch's size), then its budget reservation goes back (a crash between leaves it held, never released
   * twice). `abandoned`: it left after the provider had it, so what the provider does with it is still billed:
   * its reservation stays held until the provider batch has ended and the line's bill is charged
   * (chargeAbandoned), or the item's new route could spend it as well.
   * False: it was settled before (or its batch closed), and nothing is given back again.
   */
  private async settled(
    line: PendingLine,
    batch: OpenProviderBatch,
    how: LineSettlement = 'settled',
  ): Promise<boolean> {
    batch.settled.push(line.customId);
    if (how === 'abandoned') (batch.abandoned ??= []).push(line.customId);
    if (!(await this.deps.ledger.settle(this.route, batch.flushId, line.customId, how))) return false;
    if (how !== 'abandoned') await this.deps.store.releaseBudget(line.batchId, line.reservedUsd);
    return true;
  }

  /**
   * The provider batch ended: what it answered for lines whose items had left is billed all the same (issue 16
   * §3: charge what the provider charges). Each such answer's usage, at the batch price, goes onto its item —
   * on top of what the item paid where it went — and into the provider's cost metrics; its text is dropped.
   */
  private async chargeAbandoned(
    batch: OpenProviderBatch,
    results: ReadonlyMap<string, BatchLineResult>,
  ): Promise<void> {
    const lines = new Map(batch.lines.map((l) => [l.customId, l]));
    for (const customId of batch.abandoned ?? []) {
      await this.keepRound();
      const result = results.get(customId);
      const line = lines.get(customId);
      if (!line) continue;
      // Not answered: nothing billed, and its reservation goes back all the same (once, with the charge's mark).
      if (result?.kind !== 'answered') {
        const spent = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
        await this.deps.store.chargeLate({
          batchId: line.batchId,
          index: line.index,
          line: customId,
          spent,
          releaseUsd: line.reservedUsd,
        });
        continue;
      }
      const usage = result.completion.usage;
      const costUsd = costOf(usage, this.deps.route.price);
      const charged = await this.deps.store.chargeLate({
        batchId: line.batchId,
        index: line.index,
        line: customId,
        spent: { ...usage, costUsd },
        releaseUsd: line.reservedUsd,
      });
      if (charged === 'charged' || charged === 'carried') metrics.callAnswered(this.from, usage, costUsd);
      this.log.log({
        msg: 'provider billed a line its item had left',
        ...itemLogFields(line.item),
        provider: this.route,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        costUsd,
        charged,
      });
    }
  }

  /** A set, not settled.includes per line: a provider batch holds up to 50,000 lines. */
  private unsettled(batch: OpenProviderBatch): PendingLine[] {
    const settled = new Set(batch.settled);
    return batch.lines.filter((l) => !settled.has(l.customId));
  }

  /** The item's end, as a pool's run measures one it ends (runs, deadline slack, misses: SwitchyardDeadlinesMissed). */
  private measureEnd(line: PendingLine, outcome: 'completed' | 'failed'): void {
    metrics.itemSettled(
      { ...this.from, model: this.deps.route.model },
      { outcome, finishedAt: Date.now(), deadline: line.item.deadline },
    );
  }

  private get from() {
    return { target: 'cloud' as const, provider: this.route };
  }

  /** The item's first call, as runItem would make it on this route: what its line asks. */
  private async firstCall(
    item: WorkItem,
    task: BatchTask,
  ): Promise<{ prompt: Prompt; jsonSchema?: Record<string, unknown> }> {
    let captured: { prompt: Prompt; jsonSchema?: Record<string, unknown> } | undefined;
    await runItem<'captured'>(
      {
        contextTokens: this.deps.route.contextTokens,
        countTokens: (t) => this.deps.counter.countTokens(t),
        promptTokens: (p) => this.deps.counter.promptTokens(p),
        complete: (prompt, jsonSchema) => {
          captured = { prompt, jsonSchema };
          return Promise.resolve({ stop: 'captured' as const });
        },
      },
      item,
      task,
      this.deps.maxOutputTokens,
    );
    if (!captured) throw new PermanentJobError(`${this.route}: the item makes no call`);
    return captured;
  }

  /** A model whose first call answers with the provider batch's line; a retry (the answer failed its check) stops. */
  private cannedModel(completion: CompletionResult): ItemModel<'retry'> {
    let calls = 0;
    return {
      contextTokens: this.deps.route.contextTokens,
      countTokens: (t) => this.deps.counter.countTokens(t),
      promptTokens: (p) => this.deps.counter.promptTokens(p),
      complete: () => Promise.resolve(calls++ === 0 ? completion : { stop: 'retry' as const }),
    };
  }
}

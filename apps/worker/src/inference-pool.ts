import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import type { PoolHeartbeat, PoolRegistry } from '#libs/pools';
import type { WorkItem } from '#libs/domain';
import type { InferenceProvider } from '#libs/providers';
import {
  JobName,
  isDeferredPriority,
  queueName,
  type ConsumerHandle,
  type QueueLayer,
  type QueueRef,
} from '#libs/queue';
import type { Price } from '#libs/routing';
import { effectiveDeadline, preemptible, preemptionVictim } from '#libs/routing';
import type { RouteTarget } from '#libs/routing';
import { redisOutage } from '#libs/redis';
import { metrics } from '#libs/metrics';
import type { ItemProcessor } from './item-processor.js';
import { jobResult } from './item-outcome.js';
import { LOCK_LOST, STOPPING } from './running-item.js';

/** What a pool reports about itself beyond identity and load: device, memory, model, sequences. */
export type PoolDescription = Pick<
  PoolHeartbeat,
  | 'model'
  | 'device'
  | 'deviceNames'
  | 'memory'
  | 'modelBytes'
  | 'chatWrapper'
  | 'status'
  | 'reason'
  | 'sequences'
  | 'activeSequences'
  | 'engine'
>;

export interface InferencePoolOptions {
  target: RouteTarget;
  queue: QueueRef;
  /** Absent when the pool cannot consume (its model does not fit): it only reports why. */
  provider?: InferenceProvider;
  price: Price;
  heartbeatMs: number;
  describe: () => PoolDescription | Promise<PoolDescription>;
  /** Sees every failed item before it is rethrown (a local pool shrinks on out-of-memory). */
  onItemError?: (err: unknown) => void;
  /** The provider's request quota, enforced across workers by the queue. */
  requestsPerMinute?: number | null;
  /** The provider's token quota, enforced across workers through Redis. */
  tokensPerMinute?: number | null;
  latencyMs?: number;
  /** Cloud providers: the configured speed, the prior of the measured one. */
  tokensPerSec?: number;
  /**
   * A local pool that stops cleanly says it is restarting (issue 19): expected back after `loadMs`, its word kept
   * for `graceMs`. Absent (cloud pools): its heartbeat is removed.
   */
  restart?: () => Promise<{ loadMs: number; graceMs: number }>;
  /**
   * Local pools (LOCAL_PREEMPT_SLACK_MS): while every sequence is busy, every `checkMs` the pool reads the job its
   * queue runs next; seen there at two checks in a row (no other pool took it meanwhile), it stops the running
   * item libs/routing preemptionVictim names, whose job goes back to the queue.
   */
  preemption?: { slackMs: number; checkMs: number };
}

/** How long a pool's claim to stop a run for the job at the head keeps the other pools from stopping one too. */
const PREEMPT_CLAIM_MS = 30_000;

/**
 * The end of a stop()'s drain kept for handing back what still runs: its items are queued again and their jobs put
 * back, as a preempted run's are. A quarter of the drain, at most 2 s: a few writes per item.
 */
const handBackMs = (drainMs: number) => Math.min(2_000, drainMs / 4);

/** A job this pool runs now, as preemption weighs it. */
interface RunningJob {
  id: string;
  deadline: number;
  startedAt: number;
  stop: AbortController;
}

/** host:pid:queue — the id a pool beats under, from its loading announcement on. */
export function poolId(queue: QueueRef): string {
  return `${hostname()}:${process.pid}:${queueName(queue)}`;
}

/** What a pool works with: the queues it consumes, the registry it beats in, the processor its jobs run on. */
export interface InferencePoolDeps {
  jobs: QueueLayer;
  registry: Pick<PoolRegistry, 'beat' | 'remove'>;
  /** `jobFailed`, where given, closes the item of a job BullMQ failed for good (ConsumeOptions.onFailed). */
  processor: Pick<ItemProcessor, 'run'> & Partial<Pick<ItemProcessor, 'jobFailed'>>;
}

/**
 * One provider consuming one queue, with a heartbeat in Redis so the API's /ready, /v1/pools and the
 * routing state know it is alive. Consumes only once its provider is ready (the model loaded).
 */
export class InferencePool {
  private consumer?: ConsumerHandle;
  private timer?: NodeJS.Timeout;
  private readonly id: string;
  private readonly startedAt = Date.now();
  private busy = 0;
  private concurrency = 0;
  /** The jobs it runs now: where it preempts, and what it hands back when it stops. */
  private readonly runningJobs = new Map<string, RunningJob>();
  private preemptTimer?: NodeJS.Timeout;
  /** The job the queue ran next at the last check, while every sequence was busy. */
  private nextSeen: string | null = null;
  private started = false;
  private stopped = false;
  private readonly log = new Logger('pool');

  private readonly jobs: QueueLayer;
  private readonly registry: InferencePoolDeps['registry'];
  private readonly processor: InferencePoolDeps['processor'];

  constructor(
    private readonly opts: InferencePoolOptions,
    deps: InferencePoolDeps,
  ) {
    ({ jobs: this.jobs, registry: this.registry, processor: this.processor } = deps);
    this.id = poolId(opts.queue);
  }

  /**
   * Beats, then consumes. Not once `stopping` (the process's stop, SIGTERM during start-up) is aborted: the pool
   * then stays unstarted (resume() does not start it either) until stop().
   */
  async start(stopping?: AbortSignal): Promise<void> {
    const { provider } = this.opts;
    if (stopping?.aborted) return;
    const description = await this.opts.describe();
    await this.beat();
    // A lost Redis is reported once per outage (redisOutage), not on every beat.
    const failed = (e: unknown) => {
      if (!redisOutage.absorbs(e)) this.log.warn({ msg: 'heartbeat failed', error: String(e) });
    };
    this.timer = setInterval(() => void this.beat().catch(failed), this.opts.heartbeatMs);
    if (stopping?.aborted) return;
    this.started = true;
    if (!provider || description.status !== 'consuming') {
      this.log.error({ msg: 'pool not consuming', queue: queueName(this.opts.queue), reason: description.reason });
      return;
    }
    this.consumeWith(description);
  }

  /** Requests of this pool's items in flight now. */
  get inFlight(): number {
    return this.busy;
  }

  /**
   * Stops taking jobs until resume() (an engine that stopped answering, issue 17 §4); running ones get `timeoutMs`,
   * then are left to stalled-job recovery. The heartbeat goes on: the pool says why it is not consuming.
   */
  async pause(timeoutMs: number): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.close(timeoutMs);
  }

  /** Takes jobs again after pause(), or for the first time when the pool could not at start(). */
  async resume(): Promise<void> {
    if (this.consumer || !this.started || this.stopped || !this.opts.provider) return;
    const description = await this.opts.describe();
    if (description.status === 'consuming' && !this.consumer && !this.stopped) this.consumeWith(description);
  }

  private consumeWith(description: PoolDescription): void {
    const { target, provider, price, tokensPerMinute, latencyMs, tokensPerSec } = this.opts;
    const { model } = description;
    const on = { target, provider: provider!, price, tokensPerMinute, latencyMs, tokensPerSec };
    this.concurrency = description.activeSequences;
    metrics.routeServed({ target, provider: this.opts.queue.provider });
    this.consumer = this.jobs.consume<JobName.RunItem>(
      this.opts.queue,
      async (job) => {
        this.busy += 1;
        const run = { enqueuedAt: job.timestamp, startedAt: Date.now(), deadline: job.data.deadline, outcome: 'error' };
        const stop = new AbortController();
        this.runningJobs.set(job.id, { id: job.id, deadline: runsAsDue(job), startedAt: run.startedAt, stop });
        // A job this worker lost stops its run like a preemption, but records nothing (ItemEndings.abandoned).
        const lost = () => stop.abort(new Error(LOCK_LOST));
        if (job.lost?.aborted) lost();
        job.lost?.addEventListener('abort', lost, { once: true });
        try {
          const outcome = await this.processor.run(job, on, stop.signal);
          run.outcome = outcome.kind;
          // The item's outcome as BullMQ must see it: a return value, or the error that fails, retries or rate-limits the job.
          return jobResult(outcome);
        } catch (err) {
          this.opts.onItemError?.(err);
          throw err;
        } finally {
          job.lost?.removeEventListener('abort', lost);
          this.busy -= 1;
          this.runningJobs.delete(job.id);
          metrics.itemRan({ target, provider: this.opts.queue.provider, model }, { ...run, finishedAt: Date.now() });
        }
      },
      {
        concurrency: description.activeSequences,
        requestsPerMinute: this.opts.requestsPerMinute,
        onFailed: async (job, reason) => {
          try {
            await this.processor.jobFailed?.(job.data as WorkItem, this.opts.queue.provider, reason);
          } catch (err) {
            if (!redisOutage.absorbs(err))
              this.log.warn({ msg: 'could not close the item of a failed job', jobId: job.id, error: String(err) });
          }
        },
      },
    );
    if (this.opts.preemption && !this.preemptTimer) {
      const failed = (e: unknown) => {
        if (!redisOutage.absorbs(e)) this.log.warn({ msg: 'preemption check failed', error: String(e) });
      };
      this.preemptTimer = setInterval(() => void this.preemptCheck().catch(failed), this.opts.preemption.checkMs);
    }
    this.log.log({
      msg: 'pool consuming',
      queue: queueName(this.opts.queue),
      model: description.model,
      device: description.device,
      concurrency: description.activeSequences,
      reason: description.reason,
    });
  }

  setConcurrency(n: number): void {
    this.concurrency = n;
    this.consumer?.setConcurrency(n);
  }

  /**
   * Preemption (libs/routing): with every sequence busy and some running item far from its deadline, the job
   * the queue runs next, if it waited a whole check (no other pool had room for it), takes the sequence of
   * the item preemptionVictim names. That item is queued again and its job waits with its own priority. Of the
   * pools that see the same job there, the one that claims it (QueueLayer.claim) stops a run for it.
   */
  private async preemptCheck(): Promise<void> {
    const { preemption, queue } = this.opts;
    const now = Date.now();
    const full = this.consumer && this.runningJobs.size >= this.concurrency;
    if (
      !preemption ||
      !full ||
      ![...this.runningJobs.values()].some((r) => preemptible(r.deadline, now, preemption.slackMs))
    ) {
      this.nextSeen = null;
      return;
    }
    const [next] = await this.jobs.waiting<JobName.RunItem>(queue, 1);
    const seenBefore = next !== undefined && next.id === this.nextSeen;
    this.nextSeen = next?.id ?? null;
    if (!seenBefore) return;
    // One already stopped and still writing its way out is not stopped twice.
    const running = [...this.runningJobs.values()].filter((r) => !r.stop.signal.aborted);
    // A deferred item at the head stops only what is due after its deferred deadline: were it compared by its own,
    // the run it stopped would come back ahead of it, stop it in turn, and the two would trade the sequence.
    const victim = preemptionVictim(running, { deadline: runsAsDue(next) }, Date.now(), preemption.slackMs);
    if (!victim) return;
    this.nextSeen = null;
    // Several pools of the model may see the same job at the head at once: one of them stops a run for it. The claim
    // outlives the stopped run's way out (its writes, the job put back), however long the other pools' checks go on
    // seeing the job there meanwhile; once the job runs it is never at the head again.
    if (!(await this.jobs.claim(queue, next.id, 'preempt', Math.max(PREEMPT_CLAIM_MS, 10 * preemption.checkMs))))
      return;
    victim.stop.abort(new Error('preempted by an item due sooner'));
    metrics.itemPreempted({ target: this.opts.target, provider: queue.provider });
  }

  /**
   * Stops taking jobs and waits up to `timeoutMs` for running ones. A consuming local pool first says it is
   * restarting (routing keeps counting on it for its grace; said before the drain, which may run into the
   * process's shutdown deadline); any other pool drops its heartbeat after the drain.
   */
  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.preemptTimer);
    this.preemptTimer = undefined;
    this.stopped = true;
    // Without Redis the writes would wait out their retries; the heartbeat expires by itself.
    const restarting = this.consumer && this.opts.restart && !redisOutage.active;
    if (restarting) {
      const reason = 'stopped cleanly; expected back after a start and a model load';
      // A failed word is no reason to stop differently: the heartbeat expires, and the model counts as gone.
      await this.opts.restart!()
        .then(({ loadMs, graceMs }) =>
          this.beat({ status: 'restarting', reason, expectedReadyAt: Date.now() + loadMs }, graceMs),
        )
        .catch(() => undefined);
    }
    // Runs still going near the end of the drain go back to their queue, their items queued again (as preempted):
    // left to the close's timeout, their jobs stayed active until their locks lapsed, a stall counted against
    // each (a few deploys in a row failed a long item for good), and on its last attempt an item a closed
    // provider aborted failed.
    const handBack = setTimeout(
      () => this.runningJobs.forEach((r) => r.stop.abort(new Error(STOPPING))),
      Math.max(0, timeoutMs - handBackMs(timeoutMs)),
    );
    await this.consumer?.close(timeoutMs);
    clearTimeout(handBack);
    metrics.poolStopped({
      ...(await this.opts.describe()),
      target: this.opts.target,
      provider: this.opts.queue.provider,
    });
    if (!restarting && !redisOutage.active) await this.registry.remove(this.id).catch(() => undefined);
  }

  private async beat(over: Partial<PoolHeartbeat> = {}, ttlMs?: number): Promise<void> {
    const description = await this.opts.describe();
    metrics.poolReported({
      ...description,
      target: this.opts.target,
      provider: this.opts.queue.provider,
      busy: this.busy,
    });
    await this.registry.beat(
      {
        ...description,
        id: this.id,
        target: this.opts.target,
        provider: this.opts.queue.provider,
        queue: queueName(this.opts.queue),
        host: hostname(),
        pid: process.pid,
        busy: this.busy,
        startedAt: this.startedAt,
        at: Date.now(),
        ...over,
      },
      ttlMs,
    );
  }
}

/** When a local job runs as due on the pool's schedule: its deadline, or later once deferred (lateDeferrals). */
function runsAsDue(job: { data: { deadline: number }; priority?: number }): number {
  return effectiveDeadline(job.data.deadline, isDeferredPriority(job.priority ?? 0, job.data.deadline));
}

import { Logger } from '@nestjs/common';
import type { EnginePoolConfig } from '#libs/config';
import { engineConcurrency, engineContext, readEngine, type EngineContext, type EngineReading } from '#libs/pools';
import { ProviderError, type InferenceProvider } from '#libs/providers';
import { queueRefFor } from '#libs/queue';
import { InferencePool, type InferencePoolDeps, type PoolDescription } from './inference-pool.js';
import type { ItemOutcome } from './item-outcome.js';

/**
 * How long one capacity read may take. Its own figure, not `pollMs`: an engine busy decoding can take seconds to
 * answer /metrics, and that is not an outage.
 */
const CAPACITY_READ_TIMEOUT_MS = 10_000;

/**
 * Failed capacity reads in a row before the pool pauses: one lost or slow read should not drain the pool. A refused
 * connection (nothing listens there) or a dropped request does not wait for the count.
 */
const FAILED_READS_BEFORE_PAUSE = 3;

export interface EnginePoolDeps extends InferencePoolDeps {
  heartbeatMs: number;
  /** The engine's OpenAI-compatible endpoint (the cloud providers' call path: the openai SDK). */
  provider: InferenceProvider;
  /** Reads the engine's capacity; tests substitute one. By default its /slots, /metrics (and vLLM's models) over HTTP. */
  read?: () => Promise<EngineReading | null>;
}

/**
 * The engine's client as the pool's consumer sees it: the same object, but for `contextTokens`, which is the
 * context the pool holds items to now (the fit check reads it per item). A proxy rather than a copy, so it is still
 * the CloudProvider it stands for (item-calls names the model a CloudProvider asks for); its methods run on the
 * provider itself.
 */
function withContext(provider: InferenceProvider, contextTokens: () => number): InferenceProvider {
  return new Proxy(provider, {
    get: (target, key) => {
      if (key === 'contextTokens') return contextTokens();
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * A serving engine the operator runs (llama-server, vLLM) as a local pool (issue 17 §4): it consumes the engine's
 * own local queue, with a concurrency that follows what the engine reports (engineConcurrency), re-read every
 * `pollMs`. While the engine does not answer (FAILED_READS_BEFORE_PAUSE reads in a row), or does not serve the model
 * configured, the pool takes no jobs and says so in its heartbeat: routing sees it unavailable, and the escalation
 * watchdog moves what a cleared provider can take, as for a local model with no pool; restricted items wait for the
 * engine.
 */
export class EnginePool {
  private readonly log = new Logger('engine-pool');
  readonly inference: InferencePool;
  private reading: EngineReading | null = null;
  private readAt: number | null = null;
  /** The context items are held to: the engine's own once read (engineContext), the configured one before. */
  private context: EngineContext;
  /** The engine's context figure last logged: the log says it once, not on every read. */
  private contextLogged: number | null = null;
  private reachable = false;
  private concurrency: number;
  private why = 'not read yet';
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private polling?: Promise<void>;
  /** Failed capacity reads since the last one that succeeded. */
  private failedReads = 0;
  /** A pause under way: it waits for the running jobs, so neither polling nor a dropped call waits for it. */
  private pausing?: Promise<void>;
  private readonly read: () => Promise<EngineReading | null>;

  constructor(
    readonly engine: EnginePoolConfig,
    deps: EnginePoolDeps,
  ) {
    this.concurrency = engine.initialConcurrency;
    this.context = engineContext(null, engine);
    this.read = deps.read ?? (() => readEngine(engine, { timeoutMs: CAPACITY_READ_TIMEOUT_MS }));
    this.inference = new InferencePool(
      {
        target: 'local',
        queue: queueRefFor('local', engine.name),
        // Items are fitted (split, or refused as too long) to the context the engine holds now, not the configured one.
        provider: withContext(deps.provider, () => this.context.tokens),
        price: engine.price,
        heartbeatMs: deps.heartbeatMs,
        describe: () => this.describe(),
        tokensPerSec: engine.tokensPerSec,
      },
      {
        ...deps,
        processor: {
          run: (job, on, preempt) => this.run(job, on, preempt),
          jobFailed: (item, provider, reason) =>
            this.processor.jobFailed?.(item, provider, reason) ?? Promise.resolve(),
        },
      },
    );
    this.processor = deps.processor;
  }

  private readonly processor: InferencePoolDeps['processor'];

  /**
   * One item, as any pool runs it; but a call the engine did not take (connection refused or dropped) says the
   * engine is gone, not that the item is bad. Such an item is queued again already (the attempt's retry); its job
   * goes back to waiting without spending an attempt, and the pool pauses at once rather than at the next poll, so
   * the rest of the queue is not burnt through: the watchdog sees the items waiting and the pool unavailable.
   */
  private async run(...args: Parameters<InferencePoolDeps['processor']['run']>): Promise<ItemOutcome> {
    const outcome = await this.processor.run(...args);
    if (outcome.kind !== 'retrying' || !(outcome.error instanceof ProviderError) || outcome.error.code !== 'connection')
      return outcome;
    this.lost(`the engine does not answer: ${outcome.error.message}`);
    return { kind: 'rate-limited', waitMs: this.engine.pollMs };
  }

  /** Reads the engine once, then starts the pool (consuming only if the engine answered) and the polling. */
  async start(stopping?: AbortSignal): Promise<void> {
    await this.poll();
    await this.inference.start(stopping);
    this.schedule();
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    // A pause under way drains the consumer it let go of; give it no longer than this drain.
    let drained: NodeJS.Timeout | undefined;
    await Promise.race([this.pausing, new Promise((done) => (drained = setTimeout(done, timeoutMs)))]);
    clearTimeout(drained);
    await this.inference.stop(timeoutMs);
  }

  describe(): PoolDescription {
    const host = new URL(this.engine.capacityBase).host;
    return {
      model: this.engine.model,
      device: this.engine.engine,
      deviceNames: [host],
      memory: null,
      modelBytes: null,
      status: this.reachable ? 'consuming' : 'unreachable',
      reason: this.why,
      sequences: this.reading?.slots ?? this.concurrency,
      activeSequences: this.reachable ? this.concurrency : 0,
      engine: {
        kind: this.engine.engine,
        host,
        reading: this.reading,
        readAt: this.readAt,
        // Once the engine was read: before, routing keeps to the configured figure itself.
        ...(this.reading && { contextTokens: this.context.tokens }),
      },
    };
  }

  /** One reading, and what follows from it: a new concurrency, or the pool paused or resumed. */
  async poll(): Promise<void> {
    const run = this.pollOnce();
    this.polling = run;
    await run;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.poll()
        .catch((err) => this.log.warn({ msg: 'engine poll failed', engine: this.engine.name, error: String(err) }))
        .finally(() => this.schedule());
    }, this.engine.pollMs);
  }

  /**
   * The engine stopped answering, or cannot serve our model: the pool takes no more jobs until a reading comes
   * back. The pause is not awaited: it waits for the running jobs (a hanging one gets the request timeout), and
   * the polling that would see the engine come back must not wait with it.
   */
  private lost(why: string): void {
    this.why = why;
    if (!this.reachable) return;
    this.reachable = false;
    this.log.warn({ msg: 'engine unreachable; pool paused', engine: this.engine.name, reason: why });
    // pause() lets go of the consumer at once; what it awaits is the running jobs finishing.
    const paused = this.inference
      .pause(this.engine.timeoutMs)
      .catch((err) => this.log.warn({ msg: 'engine pool pause failed', engine: this.engine.name, error: String(err) }));
    this.pausing = Promise.all([this.pausing, paused]).then(() => undefined);
  }

  /** A read that failed: the pool pauses once they add up, or at once when nothing listens at the engine's address. */
  private failedRead(why: string, refused: boolean): void {
    this.failedReads += 1;
    if (!this.reachable || refused || this.failedReads >= FAILED_READS_BEFORE_PAUSE) return this.lost(why);
    this.log.warn({
      msg: 'engine capacity read failed; pool goes on',
      engine: this.engine.name,
      failedReads: this.failedReads,
      reason: why,
    });
  }

  /**
   * The context from the latest reading. The engine's figure is logged once (again when it changes), with a warning
   * where it disagrees with a `contextTokens` the entry set: an item longer than the engine's context is refused
   * there, and on a local pool that fails it for good.
   */
  private holdTo(context: EngineContext): void {
    this.context = context;
    const { reported, tokens } = context;
    if (reported === null || reported === this.contextLogged) return;
    this.contextLogged = reported;
    const { name, contextTokens, contextTokensSet } = this.engine;
    if (contextTokensSet && contextTokens !== reported)
      this.log.warn({
        msg:
          reported < contextTokens
            ? "engine's context is smaller than its contextTokens; the engine's is used"
            : "engine's context is larger than its contextTokens; contextTokens caps it",
        engine: name,
        reported,
        contextTokens,
        using: tokens,
      });
    else this.log.log({ msg: 'engine pool context read from the engine', engine: name, contextTokens: tokens });
  }

  /** Why an engine that answered gave no reading, with the address asked: a wrong prefix 404s there too. */
  private nothingRead(): string {
    const base = this.engine.capacityBase;
    return this.engine.engine === 'llama-server'
      ? `the engine serves neither ${base}/slots nor ${base}/metrics: start llama-server with --metrics`
      : `the engine serves no vLLM metrics at ${base}/metrics`;
  }

  private async pollOnce(): Promise<void> {
    let reading: EngineReading | null;
    try {
      reading = await this.read();
    } catch (err) {
      if (this.stopped) return;
      return this.failedRead(`the engine does not answer: ${errorText(err)}`, connectionRefused(err));
    }
    if (this.stopped) return;
    if (reading === null) return this.failedRead(this.nothingRead(), false);
    this.failedReads = 0;
    this.reading = reading;
    this.readAt = Date.now();
    this.holdTo(engineContext(reading, this.engine));
    // vLLM answers every request for a model it does not serve with a 404: consuming would fail every item.
    if (reading.servedModels && !reading.servedModels.includes(this.engine.model))
      return this.lost(
        `the engine does not serve model "${this.engine.model}"; it serves ${reading.servedModels.map((m) => `"${m}"`).join(', ') || 'none'}`,
      );
    const next = engineConcurrency(
      reading,
      { current: this.concurrency, inFlight: this.inference.inFlight },
      this.engine,
    );
    this.why = next.why;
    if (next.concurrency !== this.concurrency) {
      this.log.log({
        msg: 'engine pool concurrency changed',
        engine: this.engine.name,
        from: this.concurrency,
        to: next.concurrency,
        why: next.why,
      });
      this.concurrency = next.concurrency;
      this.inference.setConcurrency(next.concurrency);
    }
    if (!this.reachable) {
      this.reachable = true;
      this.log.log({ msg: 'engine answers; pool consuming', engine: this.engine.name, concurrency: this.concurrency });
      await this.inference.resume();
    }
  }
}

/** An error's message, with what caused it: fetch says only "fetch failed", its cause says why. */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

/** Whether nothing listens at the engine's address (ECONNREFUSED, somewhere in the error's causes). */
function connectionRefused(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
    if (e instanceof AggregateError && e.errors.some(connectionRefused)) return true;
  }
  return false;
}

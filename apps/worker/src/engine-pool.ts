import { Logger } from '@nestjs/common';
import type { EnginePoolConfig } from '#libs/config';
import { engineConcurrency, readEngine, type EngineReading } from '#libs/pools';
import { ProviderError, type InferenceProvider } from '#libs/providers';
import { queueRefFor } from '#libs/queue';
import { InferencePool, type InferencePoolDeps, type PoolDescription } from './inference-pool.js';
import type { ItemOutcome } from './item-outcome.js';

export interface EnginePoolDeps extends InferencePoolDeps {
  heartbeatMs: number;
  /** The engine's OpenAI-compatible endpoint (the cloud providers' call path: the openai SDK). */
  provider: InferenceProvider;
  /** Reads the engine's capacity; tests substitute one. By default its /slots and /metrics over HTTP. */
  read?: () => Promise<EngineReading | null>;
}

/**
 * A serving engine the operator runs (llama-server, vLLM) as a local pool (issue 17 §4): it consumes the engine's
 * own local queue, with a concurrency that follows what the engine reports (engineConcurrency), re-read every
 * `pollMs`. While the engine does not answer, the pool takes no jobs and says so in its heartbeat: routing sees it
 * unavailable, and the escalation watchdog moves what a cleared provider can take, as for a local model with no
 * pool; restricted items wait for the engine.
 */
export class EnginePool {
  private readonly log = new Logger('engine-pool');
  readonly inference: InferencePool;
  private reading: EngineReading | null = null;
  private readAt: number | null = null;
  private reachable = false;
  private concurrency: number;
  private why = 'not read yet';
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private polling?: Promise<void>;
  private readonly read: () => Promise<EngineReading | null>;

  constructor(
    readonly engine: EnginePoolConfig,
    deps: EnginePoolDeps,
  ) {
    this.concurrency = engine.initialConcurrency;
    this.read =
      deps.read ?? (() => readEngine(engine, { timeoutMs: Math.min(engine.timeoutMs, Math.max(1000, engine.pollMs)) }));
    this.inference = new InferencePool(
      {
        target: 'local',
        queue: queueRefFor('local', engine.name),
        provider: deps.provider,
        price: engine.price,
        heartbeatMs: deps.heartbeatMs,
        describe: () => this.describe(),
        tokensPerSec: engine.tokensPerSec,
      },
      { ...deps, processor: { run: (job, on) => this.run(job, on) } },
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
    // Not awaited: pausing waits for the running jobs, this one among them.
    void this.lost(`the engine does not answer: ${outcome.error.message}`);
    return { kind: 'rate-limited', waitMs: this.engine.pollMs };
  }

  /** Reads the engine once, then starts the pool (consuming only if the engine answered) and the polling. */
  async start(): Promise<void> {
    await this.poll();
    await this.inference.start();
    this.schedule();
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
    await this.inference.stop(timeoutMs);
  }

  describe(): PoolDescription {
    const host = new URL(this.engine.origin).host;
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
      engine: { kind: this.engine.engine, host, reading: this.reading, readAt: this.readAt },
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

  /** The engine stopped answering: the pool takes no more jobs until a reading comes back. */
  private async lost(why: string): Promise<void> {
    this.why = why;
    if (!this.reachable) return;
    this.reachable = false;
    this.log.warn({ msg: 'engine unreachable; pool paused', engine: this.engine.name, reason: why });
    // Running calls fail on their own against a dead engine; one that hangs gets the request timeout.
    await this.inference.pause(this.engine.timeoutMs);
  }

  private async pollOnce(): Promise<void> {
    let reading: EngineReading | null;
    let failure: string | null = null;
    try {
      reading = await this.read();
      if (reading === null)
        failure =
          'the engine serves neither /slots nor /metrics: start llama-server with --metrics (vLLM serves /metrics)';
    } catch (err) {
      reading = null;
      failure = `the engine does not answer: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (this.stopped) return;
    if (reading === null) return this.lost(failure!);
    this.reading = reading;
    this.readAt = Date.now();
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

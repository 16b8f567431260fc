import { hostname } from 'node:os';
import { Logger } from '@nestjs/common';
import type { PoolRegistry } from '#libs/pools/src/pool-registry.js';
import type { InferenceProvider } from '#libs/providers/src/completion.js';
import { JobName, type ConsumerHandle, type JobQueue, type QueueName } from '#libs/queue/src/index.js';
import type { Price } from '#libs/routing/src/cost.js';
import type { RouteTarget } from '#libs/routing/src/routing-policy.js';
import type { ItemProcessor } from './item-processor.js';

export interface InferencePoolOptions {
  target: RouteTarget;
  queue: QueueName;
  provider: InferenceProvider;
  model: string;
  device: string;
  price: Price;
  /** Jobs this pool runs at once (local: context sequences). */
  concurrency: number;
  heartbeatMs: number;
}

/**
 * One provider consuming one queue, with a heartbeat in Redis so the API's /ready and routing state
 * know it is alive. Started only once its provider is ready (the model loaded).
 */
export class InferencePool {
  private consumer?: ConsumerHandle;
  private timer?: NodeJS.Timeout;
  private readonly id: string;
  private readonly startedAt = Date.now();
  private busy = 0;
  private readonly log = new Logger('pool');

  constructor(
    private readonly opts: InferencePoolOptions,
    private readonly jobs: JobQueue,
    private readonly registry: PoolRegistry,
    private readonly processor: ItemProcessor,
  ) {
    this.id = `${hostname()}:${process.pid}:${opts.queue}`;
  }

  async start(): Promise<void> {
    const { target, provider, price } = this.opts;
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch((e) => this.log.warn({ msg: 'heartbeat failed', error: String(e) })), this.opts.heartbeatMs);
    this.consumer = this.jobs.consume<JobName.RunItem>(
      this.opts.queue,
      async (job) => {
        this.busy += 1;
        try {
          return await this.processor.run(job, { target, provider, price });
        } finally {
          this.busy -= 1;
        }
      },
      this.opts.concurrency,
    );
    this.log.log({ msg: 'pool consuming', queue: this.opts.queue, provider: provider.name, model: this.opts.model, device: this.opts.device, concurrency: this.opts.concurrency });
  }

  /** Stops taking jobs, waits up to `timeoutMs` for running ones, then drops the heartbeat. */
  async stop(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    await this.consumer?.close(timeoutMs);
    await this.registry.remove(this.id).catch(() => undefined);
  }

  private beat(): Promise<void> {
    return this.registry.beat({
      id: this.id,
      target: this.opts.target,
      provider: this.opts.provider.name,
      model: this.opts.model,
      queue: this.opts.queue,
      host: hostname(),
      pid: process.pid,
      device: this.opts.device,
      sequences: this.opts.concurrency,
      busy: this.busy,
      startedAt: this.startedAt,
      at: Date.now(),
    });
  }
}

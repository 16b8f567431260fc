/** Every Redis key of the batch records, under one prefix (shared with BullMQ's queues). */
export class BatchKeys {
  constructor(private readonly prefix: string) {}
  batch(id: string): string {
    return `${this.prefix}:sy:batch:${id}`;
  }
  /**
   * The batch's event stream (GET /v1/batches/:id/events): item transitions, reroutes and its end, XADDed
   * by the transition scripts. Built on batch(id) so it shares whatever hash tag that key carries.
   */
  events(id: string): string {
    return `${this.batch(id)}:events`;
  }
  /** The routing estimate (finish time, ms) of each open item of the batch, by index: its max is the batch's. */
  estimates(id: string): string {
    return `${this.batch(id)}:eta`;
  }
  item(batchId: string, index: number): string {
    return `${this.prefix}:sy:item:${batchId}:${index}`;
  }
  /** Every batch id, scored by createdAt. */
  index(): string {
    return `${this.prefix}:sy:batches`;
  }
  /** One tenant's batch ids, scored by createdAt. */
  tenantIndex(tenant: string): string {
    return `${this.index()}:tenant:${tenant}`;
  }
  idempotency(key: string): string {
    return `${this.prefix}:sy:idem:${key}`;
  }
  /** Batches whose branch output is not written (nor failed) yet: what the output sweep looks at. */
  pendingOutputs(): string {
    return `${this.prefix}:sy:outputs:pending`;
  }
  /** Batches with a callback whose batch.finished event is not enqueued yet: what the callback sweep looks at. */
  pendingCallbacks(): string {
    return `${this.prefix}:sy:callbacks:pending`;
  }
  /** Estimated work (generation-equivalent tokens) waiting or running on a provider. */
  backlog(target: string, provider: string): string {
    return `${this.prefix}:sy:backlog:${target}:${provider}`;
  }
}

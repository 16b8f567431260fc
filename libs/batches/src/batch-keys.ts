/** Every Redis key of the batch records, under one prefix (shared with BullMQ's queues). */
export class BatchKeys {
  constructor(private readonly prefix: string) {}
  batch(id: string): string {
    return `${this.prefix}:sy:batch:${id}`;
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
  /** Estimated work (generation-equivalent tokens) waiting or running on a provider. */
  backlog(target: string, provider: string): string {
    return `${this.prefix}:sy:backlog:${target}:${provider}`;
  }
}

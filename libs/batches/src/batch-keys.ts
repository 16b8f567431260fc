import { globalKeyPrefix, hashTag } from '#libs/redis';

/**
 * Every Redis key of the batch records, under one prefix (shared with BullMQ's queues), laid out for Redis
 * Cluster (issue 14 §4): a batch's own records (its hash, its items, its backlog) carry the batch id as
 * their hash tag, so batches spread over the cluster while each item script touches one slot; what spans
 * batches (indexes, idempotency keys, pending outputs, the set of batches with open work) lives under the
 * deployment's global tag `{<prefix>:sy}`. docs/operations.md ("Redis Cluster") draws the layout.
 */
export class BatchKeys {
  private readonly global: string;

  constructor(private readonly prefix: string) {
    this.global = globalKeyPrefix(prefix);
  }

  batch(id: string): string {
    return `${this.prefix}:sy:batch:${hashTag(id)}`;
  }
  /**
   * The batch's event stream (GET /v1/batches/:id/events): item transitions, reroutes and its end, XADDed
   * by the transition scripts. Built on batch(id) so it shares that key's hash tag (one slot with the item).
   */
  events(id: string): string {
    return `${this.batch(id)}:events`;
  }
  /** The routing estimate (finish time, ms) of each open item of the batch, by index: its max is the batch's. */
  estimates(id: string): string {
    return `${this.batch(id)}:eta`;
  }
  item(batchId: string, index: number): string {
    return `${this.prefix}:sy:item:${hashTag(batchId)}:${index}`;
  }
  /**
   * The batch's share of each provider's backlog: field `<target>:<provider>`, estimated generation-equivalent
   * tokens of its items waiting or running there. Kept in the batch's slot so the item scripts move it
   * atomically with the item; deleted when the batch finishes.
   */
  batchBacklog(batchId: string): string {
    return `${this.prefix}:sy:backlog:${hashTag(batchId)}`;
  }
  /**
   * A batch accepted but not yet expanded into items (PendingIntakes, issue 17 §2): its validated body and who
   * sent it, until a worker has routed, written, audited and enqueued its items. In the batch's slot.
   */
  intake(id: string): string {
    return `${this.prefix}:sy:intake:${hashTag(id)}`;
  }
  /** Batches accepted on their body and not yet expanded (nor failed), scored by acceptance: the intake sweep's list. */
  pendingIntakes(): string {
    return `${this.global}:intakes:pending`;
  }
  /** Every batch id, scored by createdAt. */
  index(): string {
    return `${this.global}:batches`;
  }
  /** One tenant's batch ids, scored by createdAt. */
  tenantIndex(tenant: string): string {
    return `${this.index()}:tenant:${tenant}`;
  }
  idempotency(key: string): string {
    return `${this.global}:idem:${key}`;
  }
  /** Batches whose branch output is not written (nor failed) yet: what the output sweep looks at. */
  pendingOutputs(): string {
    return `${this.global}:outputs:pending`;
  }
  /** Batches with a callback whose batch.finished event is not enqueued yet: what the callback sweep looks at. */
  pendingCallbacks(): string {
    return `${this.global}:callbacks:pending`;
  }
  /** Batches the retention sweep is deleting, with their tenant: a pass cut short is finished by the next one. */
  retentionTrimming(): string {
    return `${this.global}:retention:trimming`;
  }
  /** Batches that may hold backlog (their batchBacklog exists): a provider's backlog is the sum over them. */
  openBacklogs(): string {
    return `${this.global}:backlog:open`;
  }
}

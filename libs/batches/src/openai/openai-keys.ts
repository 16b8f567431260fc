import { globalKeyPrefix, hashTag } from '#libs/redis';

/**
 * The Redis keys of the OpenAI-compatible surface, under the deployment's prefix. On a Redis Cluster an upload
 * (written alone) spreads by its id; the batch records are written with their index in one MULTI, so they and the
 * indexes live under the deployment's global tag (docs/operations.md).
 */
export class OpenAIKeys {
  private readonly global: string;

  constructor(private readonly prefix: string) {
    this.global = globalKeyPrefix(prefix);
  }

  file(id: string): string {
    return `${this.prefix}:sy:oai:file:${hashTag(id)}`;
  }
  batch(id: string): string {
    return `${this.global}:oai:batch:${id}`;
  }
  /**
   * The input file's invalid lines of a batch, one JSON `LineError` per list entry in line order; written with the
   * record, deleted with it. Kept out of the record, which every retrieve reads whole.
   */
  lineErrors(batchId: string): string {
    return `${this.batch(batchId)}:line-errors`;
  }
  /** Sizes of a finished batch's generated files, by kind (deleted with the batch record). */
  fileBytes(batchId: string): string {
    return `${this.batch(batchId)}:file-bytes`;
  }
  /** Every batch (or one tenant's), scored by creation time. */
  batchIndex(tenant?: string | null): string {
    const all = `${this.global}:oai:batches`;
    return tenant ? `${all}:tenant:${tenant}` : all;
  }
  /** Every upload (or one tenant's), scored by upload time. */
  filesIndex(tenant?: string | null): string {
    const all = `${this.global}:oai:files`;
    return tenant ? `${all}:tenant:${tenant}` : all;
  }
  /**
   * Where a file or batch removed from `index` stood (its score), kept a day: a list's `after` naming it still finds
   * its place (libs/batches list-cursor). Per index, so another tenant's deleted id is not a place in this tenant's
   * list. The index key holds the global tag: on a Cluster it is written in the MULTI that removes the entry.
   */
  listPlace(index: string, id: string): string {
    return `${index}:listed:${id}`;
  }
  /** The tenants that have uploaded a file (one entry each): the retention prunes each one's uploads index. */
  uploadTenants(): string {
    return `${this.global}:oai:files:tenants`;
  }
  /** One tenant's upload allowance (UploadQuota): bytes held, when each upload expires, its size. */
  uploadQuota(tenant: string | null): { held: string; expiries: string; sizes: string } {
    const base = `${this.global}:oai:quota:${tenant === null ? 'open' : `tenant:${tenant}`}`;
    return { held: `${base}:held`, expiries: `${base}:expiries`, sizes: `${base}:sizes` };
  }
  /** When a create first used an Idempotency-Key (ms): a retry after a crash builds the same submission. */
  idempotencyFirstAttempt(tenant: string | null, key: string): string {
    return `${this.idempotency(tenant, key)}:first`;
  }
  idempotency(tenant: string | null, key: string): string {
    return `${this.global}:oai:idem:${tenant === null ? 'open' : `tenant:${tenant}`}:${key}`;
  }
}

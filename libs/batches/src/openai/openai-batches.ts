import { randomUUID } from 'node:crypto';
import { canHashTag, type RedisClient } from '#libs/redis';
import { OpenAIKeys } from './openai-keys.js';
import { pageStart, rememberPlace } from './list-cursor.js';
import { forgetOpenAIBatch } from './openai-retention.js';
import {
  SENSITIVITY_LEVELS,
  isSensitivity,
  type BatchView,
  type ChatItemInput,
  type ItemView,
  type Sensitivity,
} from '#libs/domain';
import type { BatchIntake } from '../batch-intake.js';
import { IdempotencyKeyReused, SubmissionRejected } from '../batch-intake.js';
import type { BatchStore } from '../batch-store.js';
import { CHAT_ENDPOINT, parseBatchLines, type LineError } from './batch-lines.js';
import { parseCompletionWindow } from './completion-window.js';
import { parseExpiresAfter } from './expires-after.js';
import { UploadQuota } from './upload-quota.js';
import {
  generatedFile,
  invalidLine,
  itemLine,
  openAIBatchOf,
  type OpenAIBatch,
  type OpenAIBatchRecord,
} from './openai-shapes.js';

/** How long a create holds its Idempotency-Key while it runs, and how long the key answers its batch after. */
const IDEMPOTENCY_CLAIM_MS = 60_000;
const IDEMPOTENCY_KEEP_MS = 24 * 3600_000;
/**
 * How long a generated file's counted size is kept. Counting again costs a pass over the batch's items, so a day
 * covers a client's polling and download; the count goes sooner with its batch (retention).
 */
const FILE_BYTES_KEEP_MS = 24 * 3600_000;
/** Invalid lines written or read per command: a file may hold OPENAI_BATCH_MAX_LINES of them. */
const LINE_ERRORS_PAGE = 1000;
/**
 * Most invalid lines a failed batch lists in its `errors`; its error file holds them all. A file of 50,000 lines that
 * share one mistake (a wrong `url`, `method: "post"`) made every retrieve ~7 MB and a list page of 20 such ~140 MB.
 */
export const MAX_LISTED_LINE_ERRORS = 1000;

/** A request the OpenAI surface refuses, in the terms OpenAI's error body uses (`{error: {message, type, param, code}}`). */
export class OpenAIRequestError extends Error {
  constructor(
    readonly status: 400 | 404 | 409 | 413 | 422,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /**
     * Whether the same request may succeed if sent again (sent as `x-should-retry`, which the openai SDKs obey).
     * They retry a 409 on their own otherwise; only a create whose Idempotency-Key is still being used can.
     */
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'OpenAIRequestError';
  }
}

export interface OpenAIBatchLimits {
  /** Most bytes one uploaded file may hold (OPENAI_FILE_MAX_BYTES). */
  maxFileBytes: number;
  /** Most requests a file may hold: a batch's items (MAX_ITEMS_PER_BATCH). */
  maxLines: number;
  maxLineBytes: number;
  maxOutputTokens: number;
  /** The sensitivity of a batch whose metadata names none (OPENAI_BATCH_SENSITIVITY); PII detection may raise it. */
  defaultSensitivity: Sensitivity;
  localModels: string[];
  /**
   * RESULT_TTL (null: off): an uploaded file expires this long after its upload (its `expires_at`), and an
   * OpenAI batch goes once the retention sweep has deleted its Switchyard batch (docs/operations.md).
   */
  resultTtlMs: number | null;
  /** Most bytes of uploads one tenant keeps at once (OPENAI_UPLOAD_QUOTA_BYTES; UploadQuota). */
  uploadQuotaBytes: number;
}

/** The File object as OpenAI returns it. */
export interface OpenAIFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  expires_at: number | null;
  status_details: null;
}

const MAX_LIST = 100;

/**
 * The OpenAI Batch API over Switchyard's batches (issue 16 §1): uploaded files in Redis beside the batch
 * records, and each OpenAI batch a small record pointing at the Switchyard batch its valid lines became —
 * which stays the one source of truth for statuses, results, usage and cost. Output and error files are
 * not stored: they are read from the batch's items when asked for. Enqueues and reads only (the intake
 * does the rest), as everything the API runs.
 */
export class OpenAIBatches {
  private readonly keys: OpenAIKeys;
  private readonly quota: UploadQuota;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly intake: Pick<BatchIntake, 'submit' | 'cancel'>,
    private readonly store: Pick<BatchStore, 'get' | 'eachItem'>,
    private readonly limits: OpenAIBatchLimits,
  ) {
    this.keys = new OpenAIKeys(prefix);
    this.quota = new UploadQuota(redis, this.keys, limits.uploadQuotaBytes);
  }

  async uploadFile(
    file: { filename: string; purpose: unknown; content: Buffer; expiresAfter?: unknown },
    tenant: string | null,
    now = Date.now(),
  ): Promise<OpenAIFile> {
    if (file.purpose !== 'batch')
      throw new OpenAIRequestError(400, 'purpose must be "batch": the only files this API takes', 'purpose');
    const expiresAfter = parseExpiresAfter(file.expiresAfter);
    if (!expiresAfter.ok) throw new OpenAIRequestError(400, expiresAfter.message, expiresAfter.param);
    if (file.content.length > this.limits.maxFileBytes)
      throw new OpenAIRequestError(
        413,
        `file exceeds ${this.limits.maxFileBytes} bytes (OPENAI_FILE_MAX_BYTES)`,
        'file',
      );
    const id = `file-${randomUUID()}`;
    // The client's expiry where it asks for one sooner than RESULT_TTL; never later (retention is the operator's).
    const ttl =
      expiresAfter.ms === null
        ? this.limits.resultTtlMs
        : Math.min(expiresAfter.ms, this.limits.resultTtlMs ?? Infinity);
    const record = {
      id,
      bytes: String(file.content.length),
      created_at: String(Math.floor(now / 1000)),
      filename: file.filename.slice(0, 256),
      purpose: 'batch',
      ...(ttl !== null ? { expires_at: String(Math.floor((now + ttl) / 1000)) } : {}),
      ...(tenant ? { tenant } : {}),
    };
    const held = await this.quota.reserve(tenant, id, file.content.length, ttl === null ? null : now + ttl, now);
    if (!held.ok)
      throw new OpenAIRequestError(
        413,
        `uploads kept at once are limited to ${this.quota.limit} bytes (OPENAI_UPLOAD_QUOTA_BYTES); ` +
          `${held.heldBytes} are held: delete uploads no longer needed (DELETE /openai/v1/files/:id) or let them expire`,
        'file',
        'storage_quota_exceeded',
      );
    const multi = this.redis.multi().hset(this.keys.file(id), record).hset(this.keys.file(id), 'content', file.content);
    // Redis deletes it then: an upload is only read when a batch is created from it.
    if (ttl !== null) multi.pexpire(this.keys.file(id), ttl);
    try {
      await multi.exec();
    } catch (err) {
      await this.quota.release(tenant, id).catch(() => undefined);
      throw err;
    }
    // Indexed once written (another slot on a Cluster): a crash in between leaves an upload unlisted, never a
    // listed id without a file; an entry whose file expired is dropped when a listing meets it.
    const index = this.redis.multi().zadd(this.keys.filesIndex(), now, id);
    if (tenant) index.zadd(this.keys.filesIndex(tenant), now, id).sadd(this.keys.uploadTenants(), tenant);
    await index.exec();
    return fileObject(record);
  }

  /**
   * Uploads the caller may see, as OpenAI's `GET /files` lists them: newest first (or oldest with `order: asc`),
   * after the file `after` names, at most `limit`. Only `batch` uploads exist here: another `purpose` lists none.
   */
  async listFiles(
    tenant: string | undefined,
    opts: { after?: string; limit: number; order: 'asc' | 'desc'; purpose?: string },
  ): Promise<{
    object: 'list';
    data: OpenAIFile[];
    first_id: string | null;
    last_id: string | null;
    has_more: boolean;
  }> {
    const empty = { object: 'list' as const, data: [], first_id: null, last_id: null, has_more: false };
    if (opts.purpose !== undefined && opts.purpose !== 'batch') return empty;
    const index = this.keys.filesIndex(tenant);
    let from = 0;
    if (opts.after !== undefined) {
      // A file deleted since the client read its page (the SDKs' delete-as-you-go loop) still marks the place.
      const at = await pageStart(this.redis, this.keys, index, opts.after, opts.order);
      if (at === null) throw new OpenAIRequestError(400, `after names no file: ${opts.after}`, 'after');
      from = at;
    }
    const data: OpenAIFile[] = [];
    let more: boolean;
    // Files deleted or expired while listed are pruned from the index and read past: a page is short only at the
    // end (the SDKs stop paging at an empty page, and would never reach the files after it).
    do {
      const want = opts.limit - data.length;
      const scored =
        opts.order === 'desc'
          ? await this.redis.zrevrange(index, from, from + want, 'WITHSCORES')
          : await this.redis.zrange(index, from, from + want, 'WITHSCORES');
      const ids = scored.filter((_, i) => i % 2 === 0);
      const page = ids.slice(0, want);
      const gone: number[] = [];
      // Read together (one pipelined burst on the connection), not one round trip per file: a page may hold 10,000.
      const records = await Promise.all(page.map((id) => this.uploaded(id, tenant)));
      records.forEach(([record], i) => (record ? data.push(fileObject(record)) : gone.push(i)));
      if (gone.length > 0) {
        const ids = gone.map((i) => page[i]);
        const prune = this.redis.multi().zrem(this.keys.filesIndex(), ...ids);
        if (tenant) prune.zrem(index, ...ids);
        const indexes = tenant ? [this.keys.filesIndex(), index] : [index];
        for (const i of gone) rememberPlace(prune, this.keys, indexes, page[i], scored[2 * i + 1]);
        await prune.exec();
      }
      more = ids.length > want;
      // The pruned ids left the index: the next unread file now sits that much nearer the front.
      from += want - gone.length;
    } while (more && data.length < opts.limit);
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: more,
    };
  }

  /** A file the caller may see: an upload of its tenant, or a finished batch's output or error file. */
  async getFile(id: string, tenant: string | undefined): Promise<OpenAIFile | null> {
    const generated = generatedFile(id);
    if (generated) {
      const batch = await this.finishedBatchOf(id, tenant);
      if (!batch) return null;
      const createdAt = batch.finalizing_at ?? batch.created_at;
      const ttl = this.limits.resultTtlMs;
      return fileObject({
        id,
        bytes: String(await this.generatedBytes(generated.batchId, generated.kind)),
        created_at: String(createdAt),
        filename: `${batch.id}_${generated.kind === 'output' ? 'output' : 'error'}.jsonl`,
        // OpenAI gives a batch's error file the same purpose as its output file.
        purpose: 'batch_output',
        // It goes with its batch, which the retention sweep deletes RESULT_TTL after it finished (as OpenAI's
        // output files expire 30 days after they are made): null would say it is kept for ever.
        ...(ttl !== null ? { expires_at: String(createdAt + Math.floor(ttl / 1000)) } : {}),
      });
    }
    const [record] = await this.uploaded(id, tenant);
    return record ? fileObject(record) : null;
  }

  /** The file's JSONL: an upload as stored, a generated file line by line from the batch's items. */
  async fileContent(
    id: string,
    tenant: string | undefined,
  ): Promise<AsyncIterable<string> | Iterable<string | Buffer> | null> {
    const generated = generatedFile(id);
    if (generated) {
      if (!(await this.finishedBatchOf(id, tenant))) return null;
      const rec = await this.record(generated.batchId);
      return rec ? this.lines(rec, generated.kind) : null;
    }
    const [record, content] = await this.uploaded(id, tenant, true);
    if (!record) return null;
    // One chunk, byte for byte as uploaded: an upload is held whole (bounded by OPENAI_FILE_MAX_BYTES).
    return [content ?? Buffer.alloc(0)];
  }

  /** The batch whose output or error file `id` names, once that file exists (the batch finished) and the caller may see it. */
  private async finishedBatchOf(id: string, tenant: string | undefined): Promise<OpenAIBatch | null> {
    const generated = generatedFile(id)!;
    const batch = await this.getBatch(generated.batchId, tenant);
    const present = generated.kind === 'output' ? batch?.output_file_id : batch?.error_file_id;
    return batch && present === id ? batch : null;
  }

  /**
   * The size of a finished batch's output or error file, as `files.content` sends it. The file is generated when
   * read, but it no longer changes once the batch has finished (nothing is queued or running, and nothing
   * reruns a finished batch), so it is counted once, by generating it, and the count kept beside the batch.
   */
  private async generatedBytes(batchId: string, kind: 'output' | 'errors'): Promise<number> {
    const key = this.keys.fileBytes(batchId);
    const known = await this.redis.hget(key, kind);
    if (known !== null) return Number(known);
    const rec = await this.record(batchId);
    let bytes = 0;
    if (rec) for await (const line of this.lines(rec, kind)) bytes += Buffer.byteLength(line);
    await this.redis.multi().hset(key, kind, bytes).pexpire(key, FILE_BYTES_KEEP_MS).exec();
    return bytes;
  }

  async deleteFile(
    id: string,
    tenant: string | undefined,
  ): Promise<{ id: string; object: 'file'; deleted: true } | null> {
    if (generatedFile(id)) {
      throw new OpenAIRequestError(
        400,
        "a batch's output and error files are read from the batch; they go with it",
        'file_id',
      );
    }
    const [record] = await this.uploaded(id, tenant);
    if (!record) return null;
    const [, score] = await Promise.all([
      this.redis.del(this.keys.file(id)),
      this.redis.zscore(this.keys.filesIndex(), id),
    ]);
    await this.quota.release(record.tenant ?? null, id);
    const indexes = [this.keys.filesIndex(), ...(record.tenant ? [this.keys.filesIndex(record.tenant)] : [])];
    const unindex = this.redis.multi();
    for (const index of indexes) unindex.zrem(index, id);
    // A client deleting as it pages names this file as its next `after`.
    if (score !== null) rememberPlace(unindex, this.keys, indexes, id, score);
    await unindex.exec();
    return { id, object: 'file', deleted: true };
  }

  /**
   * Creates a batch from an uploaded file: every line checked, the valid ones submitted as one chat batch
   * through the intake (deadline: now + completion_window), the invalid ones kept for the error file. With
   * no valid line there is no Switchyard batch and the OpenAI batch is `failed`, its errors listed.
   */
  async createBatch(
    body: unknown,
    tenant: string | null,
    now = Date.now(),
    /** Takes the valid lines' tokens from the caller's limits before anything is enqueued; throws to refuse. */
    charge?: (items: ChatItemInput[]) => Promise<void>,
    /**
     * The request's `Idempotency-Key` header: a create sent again with it (the SDK retries a 503 on its own)
     * answers the batch the first one made instead of making another. Per tenant, kept a day.
     */
    idempotencyKey?: string,
  ): Promise<OpenAIBatch> {
    if (idempotencyKey === undefined) return this.create(body, tenant, now, `batch_${randomUUID()}`, charge);
    const claim = this.keys.idempotency(tenant, idempotencyKey);
    const first = this.keys.idempotencyFirstAttempt(tenant, idempotencyKey);
    const id = `batch_${randomUUID()}`;
    // Claimed for the time a create takes, then kept a day once the batch is saved: a create that failed (a 400,
    // a crash) leaves the key free again once its claim lapses, not bound to a batch that does not exist.
    if ((await this.redis.set(claim, id, 'PX', IDEMPOTENCY_CLAIM_MS, 'NX')) === 'OK') {
      // The lines go to the intake under a key of their own, built from this one, with the time of the first attempt
      // the key made: an API killed after the intake stored the batch but before this record was saved left a batch
      // running that no record pointed at, and the client's retry (once the claim lapsed) ran every line again. The
      // retry now builds the same submission (its deadline from that time), which the intake answers with the batch
      // it already has.
      await this.redis.set(first, String(now), 'PX', IDEMPOTENCY_KEEP_MS, 'NX');
      const firstAt = Number(await this.redis.get(first)) || now;
      const progress = { submitted: false };
      try {
        const intakeKey = `openai-batch:${tenant ?? '-'}:${idempotencyKey}`;
        const created = await this.create(body, tenant, firstAt, id, charge, { intakeKey, progress });
        await this.redis.set(claim, id, 'PX', IDEMPOTENCY_KEEP_MS);
        return created;
      } catch (err) {
        if ((await this.redis.get(claim)) === id) await this.redis.del(claim);
        // Refused before anything was submitted (a 400): the key starts afresh, its window from the next attempt.
        if (!progress.submitted) await this.redis.del(first);
        throw err;
      }
    }
    const earlier = await this.redis.get(claim);
    const rec = earlier === null ? null : await this.record(earlier);
    if (!rec)
      throw new OpenAIRequestError(
        409,
        'a batch with this Idempotency-Key is still being created: retry',
        'idempotency-key',
        'idempotency_key_in_use',
        true,
      );
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (rec.inputFileId !== b.input_file_id)
      throw new OpenAIRequestError(
        422,
        `this Idempotency-Key created ${rec.id} from another input file`,
        'idempotency-key',
        'idempotency_key_reused',
      );
    const replay = await this.getBatch(rec.id, undefined, now);
    if (!replay)
      throw new OpenAIRequestError(
        409,
        `the batch this Idempotency-Key created (${rec.id}) is gone (RESULT_TTL): use a new key`,
        'idempotency-key',
        'idempotency_key_reused',
      );
    return replay;
  }

  private async create(
    body: unknown,
    tenant: string | null,
    now: number,
    id: string,
    charge?: (items: ChatItemInput[]) => Promise<void>,
    /** Under an Idempotency-Key: the intake's own key for the lines, and whether they have been submitted yet. */
    keyed?: { intakeKey: string; progress: { submitted: boolean } },
  ): Promise<OpenAIBatch> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof b.input_file_id !== 'string')
      throw new OpenAIRequestError(400, 'input_file_id must be a file id', 'input_file_id');
    if (b.endpoint !== CHAT_ENDPOINT)
      throw new OpenAIRequestError(400, `endpoint must be "${CHAT_ENDPOINT}": the only one batches run`, 'endpoint');
    // OpenAI deletes the output and error files this long after they are made. Here they are the batch's items,
    // kept until RESULT_TTL's retention deletes the batch (their expires_at says when): a policy of at least that is
    // kept, capped there as an upload's is; a shorter one could not be kept, so it is refused rather than ignored.
    const outputExpiry = parseExpiresAfter(b.output_expires_after, 'output_expires_after');
    if (!outputExpiry.ok) throw new OpenAIRequestError(400, outputExpiry.message, outputExpiry.param);
    const kept = this.limits.resultTtlMs;
    if (outputExpiry.ms !== null && (kept === null || outputExpiry.ms < kept))
      throw new OpenAIRequestError(
        400,
        kept === null
          ? "output_expires_after cannot be kept: RESULT_TTL is off, so a batch's output and error files stay until " +
              'the batch is deleted'
          : `output_expires_after.seconds must be at least ${kept / 1000} (RESULT_TTL): a batch's output and error ` +
              'files are read from its results, kept until the retention deletes the batch, so an earlier deletion ' +
              'could not be kept',
        'output_expires_after.seconds',
      );
    const window = parseCompletionWindow(b.completion_window);
    if (!window.ok) throw new OpenAIRequestError(400, `completion_window ${window.message}`, 'completion_window');
    const metadata = this.metadataOf(b.metadata);
    // A batch's output or error file is a file the caller can retrieve and download: not "no such file", but not
    // an input either (OpenAI: the file must have purpose `batch`).
    const generated = generatedFile(b.input_file_id);
    if (generated && (await this.finishedBatchOf(b.input_file_id, tenant ?? undefined)))
      throw new OpenAIRequestError(
        400,
        `input_file_id names a batch's ${generated.kind === 'output' ? 'output' : 'error'} file (purpose ` +
          'batch_output); a batch reads an uploaded file of purpose batch',
        'input_file_id',
      );
    const [file, content] = await this.uploaded(b.input_file_id, tenant ?? undefined, true);
    if (!file) throw new OpenAIRequestError(404, `No such File object: ${b.input_file_id}`, 'input_file_id');
    const parsed = parseBatchLines(content ?? Buffer.alloc(0), {
      maxLines: this.limits.maxLines,
      maxLineBytes: this.limits.maxLineBytes,
      maxOutputTokens: this.limits.maxOutputTokens,
    });
    if (!parsed.ok) throw new OpenAIRequestError(400, parsed.message, 'input_file_id');
    const { items, errors, total } = parsed.lines;
    const rec: OpenAIBatchRecord = {
      id,
      nativeId: null,
      inputFileId: b.input_file_id,
      endpoint: CHAT_ENDPOINT,
      completionWindow: String(b.completion_window),
      metadata,
      tenant,
      createdAt: now,
      expiresAt: now + window.ms,
      total,
      invalidLines: errors.length,
      cancellingAt: null,
      expiredAt: null,
    };
    if (items.length > 0) {
      await charge?.(items);
      const submission = {
        kind: 'chat',
        sensitivity: metadata?.sensitivity ?? this.limits.defaultSensitivity,
        deadline: new Date(rec.expiresAt).toISOString(),
        ...(metadata?.model ? { model: metadata.model } : {}),
        items,
      };
      try {
        // A large file is answered `validating`, as OpenAI answers every batch: a worker expands it.
        rec.nativeId = (
          await this.intake.submit(submission, keyed?.intakeKey, now, {
            tenant,
            defer: true,
            itemsCheckedByCaller: true,
          })
        ).id;
        if (keyed) keyed.progress.submitted = true;
      } catch (err) {
        if (err instanceof IdempotencyKeyReused)
          throw new OpenAIRequestError(
            422,
            'this Idempotency-Key was first used for a create of other lines or metadata',
            'idempotency-key',
            'idempotency_key_reused',
          );
        if (!(err instanceof SubmissionRejected)) throw err;
        const [first] = err.errors;
        throw new OpenAIRequestError(400, `${first.field} ${first.message}`, first.field);
      }
    }
    await this.save(rec, errors);
    return openAIBatchOf(
      rec,
      await this.native(rec),
      items.length === 0 ? errors.slice(0, MAX_LISTED_LINE_ERRORS) : [],
    );
  }

  /**
   * The batch as OpenAI shows it. Once its window has passed, what has not started is cancelled and ends
   * as batch_expired (issue 16 §1): applied by the first read after the window, the API's only clock.
   */
  async getBatch(id: string, tenant: string | undefined, now = Date.now()): Promise<OpenAIBatch | null> {
    const rec = await this.visibleRecord(id, tenant);
    if (!rec) return null;
    let native = await this.native(rec);
    if (rec.nativeId !== null && native === null) {
      // Its Switchyard batch was deleted by the results retention (RESULT_TTL): the OpenAI view of it goes too.
      await this.forget(rec);
      return null;
    }
    if (native && isOpen(native) && now >= rec.expiresAt && rec.expiredAt === null && rec.cancellingAt === null) {
      rec.expiredAt = now;
      await this.save(rec);
      await this.intake.cancel(native.id);
      native = await this.native(rec);
    }
    // No Switchyard batch and not forgotten: no line was valid, and the batch lists them as its errors.
    return openAIBatchOf(rec, native, native === null ? await this.firstLineErrors(rec) : []);
  }

  /** Newest first, after the batch `after` names (OpenAI's cursor), at most `limit` (1–100, default 20). */
  async listBatches(
    tenant: string | undefined,
    after?: string,
    limit = 20,
  ): Promise<{
    object: 'list';
    data: OpenAIBatch[];
    first_id: string | null;
    last_id: string | null;
    has_more: boolean;
  }> {
    const index = this.keys.batchIndex(tenant);
    let from = 0;
    if (after !== undefined) {
      // A batch the retention removed since the client read its page still marks the place.
      const at = await pageStart(this.redis, this.keys, index, after, 'desc');
      if (at === null) throw new OpenAIRequestError(400, `after names no batch: ${after}`, 'after');
      from = at;
    }
    const take = Math.max(1, Math.min(MAX_LIST, limit));
    const data: OpenAIBatch[] = [];
    let more: boolean;
    // Batches the retention removed while listed read as null: read on past them, so that a page is short only at
    // the end (the SDKs stop paging at an empty page, and would never reach the batches after it).
    do {
      const want = take - data.length;
      // By rank, not by creation time: batches created in the same millisecond are neither skipped nor repeated.
      const scored = await this.redis.zrevrange(index, from, from + want, 'WITHSCORES');
      const ids = scored.filter((_, i) => i % 2 === 0);
      // Read together (one pipelined burst on the connection), not one batch's round trips after another's.
      const read = await Promise.all(ids.slice(0, want).map((id) => this.getBatch(id, tenant)));
      const gone = read.flatMap((batch, i) => (batch === null ? [i] : []));
      data.push(...read.filter((batch): batch is OpenAIBatch => batch !== null));
      // What read as null left the index (getBatch forgets a batch whose Switchyard batch is gone; an entry with no
      // record goes here): the next unread batch now sits that much nearer the front.
      await Promise.all(
        gone.map((i) =>
          forgetOpenAIBatch(this.redis, this.keys, {
            id: ids[i],
            tenant: tenant ?? null,
            createdAt: scored[2 * i + 1],
          }),
        ),
      );
      more = ids.length > want;
      from += want - gone.length;
    } while (more && data.length < take);
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: more,
    };
  }

  /** Cancels what has not started (running items are stopped by their workers); `cancelling` until they end. */
  async cancelBatch(id: string, tenant: string | undefined, now = Date.now()): Promise<OpenAIBatch | null> {
    const rec = await this.visibleRecord(id, tenant);
    if (!rec) return null;
    const native = await this.native(rec);
    if (!native) throw new OpenAIRequestError(409, `batch ${id} has failed; there is nothing to cancel`, 'batch_id');
    if (rec.cancellingAt === null && rec.expiredAt === null && isOpen(native)) {
      rec.cancellingAt = now;
      await this.save(rec);
      await this.intake.cancel(native.id);
    } else if (rec.cancellingAt === null) {
      throw new OpenAIRequestError(409, `batch ${id} has already finished; it cannot be cancelled`, 'batch_id');
    }
    return openAIBatchOf(rec, await this.native(rec));
  }

  private async *lines(rec: OpenAIBatchRecord, kind: 'output' | 'errors'): AsyncGenerator<string> {
    if (kind === 'errors') for await (const e of this.lineErrors(rec)) yield `${JSON.stringify(invalidLine(rec, e))}\n`;
    if (!rec.nativeId) return;
    for await (const item of this.store.eachItem(rec.nativeId) as AsyncIterable<ItemView>) {
      const line = itemLine(rec, item);
      if (line?.file === kind) yield `${JSON.stringify(line.line)}\n`;
    }
  }

  private metadataOf(raw: unknown): (Record<string, string> & { sensitivity?: Sensitivity }) | null {
    if (raw === undefined || raw === null) return null;
    if (typeof raw !== 'object' || Array.isArray(raw))
      throw new OpenAIRequestError(400, 'metadata must be an object of strings', 'metadata');
    // OpenAI's limits: 16 keys, each at most 64 characters, its value a string of at most 512.
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length > 16) throw new OpenAIRequestError(400, 'metadata holds at most 16 keys', 'metadata');
    for (const [key, value] of entries) {
      if (key.length > 64)
        throw new OpenAIRequestError(
          400,
          `metadata.${key} is a key of ${key.length} characters; a key holds at most 64`,
          `metadata.${key}`,
        );
      if (typeof value !== 'string' || value.length > 512)
        throw new OpenAIRequestError(
          400,
          `metadata.${key} must be a string of at most 512 characters`,
          `metadata.${key}`,
        );
    }
    const metadata = raw as Record<string, string>;
    if (metadata.sensitivity !== undefined && !isSensitivity(metadata.sensitivity))
      throw new OpenAIRequestError(
        400,
        `metadata.sensitivity must be one of ${SENSITIVITY_LEVELS.join(', ')}`,
        'metadata.sensitivity',
      );
    if (metadata.model !== undefined && !this.limits.localModels.includes(metadata.model))
      throw new OpenAIRequestError(
        400,
        `metadata.model must be one of the local models: ${this.limits.localModels.join(', ')}`,
        'metadata.model',
      );
    return metadata as Record<string, string> & { sensitivity?: Sensitivity };
  }

  /** The upload's fields (and its content when asked), if it exists and the tenant may see it. */
  private async uploaded(
    id: string,
    tenant: string | undefined,
    withContent = false,
  ): Promise<[Record<string, string> | null, Buffer | null]> {
    const fields = ['id', 'bytes', 'created_at', 'filename', 'purpose', 'expires_at', 'tenant'];
    if (!canHashTag(id)) return [null, null]; // a request's id that no file can have
    // The content as the bytes uploaded: read as a string, bytes that are not UTF-8 would come back replaced.
    const [values, content] = await Promise.all([
      this.redis.hmget(this.keys.file(id), ...fields),
      withContent ? this.redis.hgetBuffer(this.keys.file(id), 'content') : null,
    ]);
    if (!values[0]) return [null, null];
    const record = Object.fromEntries(fields.map((f, i) => [f, values[i] ?? ''])) as Record<string, string>;
    if (tenant !== undefined && record.tenant !== tenant) return [null, null];
    return [record, content];
  }

  private async native(rec: OpenAIBatchRecord): Promise<BatchView | null> {
    return rec.nativeId ? this.store.get(rec.nativeId) : null;
  }

  private async record(id: string): Promise<OpenAIBatchRecord | null> {
    if (!canHashTag(id)) return null; // a request's id that no batch can have
    const raw = await this.redis.get(this.keys.batch(id));
    return raw ? (JSON.parse(raw) as OpenAIBatchRecord) : null;
  }

  private async visibleRecord(id: string, tenant: string | undefined): Promise<OpenAIBatchRecord | null> {
    const rec = await this.record(id);
    return rec && (tenant === undefined || rec.tenant === tenant) ? rec : null;
  }

  private async forget(rec: OpenAIBatchRecord): Promise<void> {
    await forgetOpenAIBatch(this.redis, this.keys, rec);
  }

  /** The input file's invalid lines, in line order, a page at a time. */
  private async *lineErrors(rec: OpenAIBatchRecord): AsyncGenerator<LineError> {
    if (rec.lineErrors) {
      yield* rec.lineErrors;
      return;
    }
    if (rec.invalidLines === 0) return;
    for (let from = 0; ; from += LINE_ERRORS_PAGE) {
      const page = await this.redis.lrange(this.keys.lineErrors(rec.id), from, from + LINE_ERRORS_PAGE - 1);
      for (const raw of page) yield JSON.parse(raw) as LineError;
      if (page.length < LINE_ERRORS_PAGE) return;
    }
  }

  /** The first MAX_LISTED_LINE_ERRORS invalid lines, as a failed batch lists them. */
  private async firstLineErrors(rec: OpenAIBatchRecord): Promise<LineError[]> {
    if (rec.lineErrors) return rec.lineErrors.slice(0, MAX_LISTED_LINE_ERRORS);
    const page = await this.redis.lrange(this.keys.lineErrors(rec.id), 0, MAX_LISTED_LINE_ERRORS - 1);
    return page.map((raw) => JSON.parse(raw) as LineError);
  }

  /** The record, and with the first save the input file's invalid lines beside it, in one MULTI. */
  private async save(rec: OpenAIBatchRecord, lineErrors: readonly LineError[] = []): Promise<void> {
    const multi = this.redis.multi().set(this.keys.batch(rec.id), JSON.stringify(rec));
    for (let i = 0; i < lineErrors.length; i += LINE_ERRORS_PAGE) {
      const page = lineErrors.slice(i, i + LINE_ERRORS_PAGE).map((e) => JSON.stringify(e));
      multi.rpush(this.keys.lineErrors(rec.id), ...page);
    }
    multi.zadd(this.keys.batchIndex(), rec.createdAt, rec.id);
    if (rec.tenant) multi.zadd(this.keys.batchIndex(rec.tenant), rec.createdAt, rec.id);
    await multi.exec();
  }
}

/** Items queued or running, or a batch still validating (its items not written yet). */
function isOpen(native: BatchView): boolean {
  return native.status === 'validating' || native.counts.queued + native.counts.running > 0;
}

function fileObject(r: Record<string, string>): OpenAIFile {
  return {
    id: r.id,
    object: 'file',
    bytes: Number(r.bytes),
    created_at: Number(r.created_at),
    filename: r.filename,
    purpose: r.purpose,
    status: 'processed',
    expires_at: r.expires_at ? Number(r.expires_at) : null,
    status_details: null,
  };
}

export type { LineError };

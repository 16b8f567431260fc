/**
 * Where a page of GET /v1/batches ends: the createdAt (ms) and id of its last batch. Batches are listed newest first,
 * ties broken by id, descending, as a Redis sorted set orders members of equal score. A createdAt alone skipped the
 * rest of the batches accepted in the same millisecond as a page's last one (concurrent submitters, several API
 * replicas), since the next page began strictly before it.
 */
export interface BatchListCursor {
  at: number;
  /** Absent for the createdAt timestamp clients passed before cursors had ids: strictly before `at`, as then. */
  id?: string;
}

const CURSOR = /^(\d{1,15})_([A-Za-z0-9-]{1,100})$/;

/** The cursor after `batch`, as `next` gives it: `<createdAt ms>_<id>`. */
export function cursorAfter(batch: { createdAt: string; id: string }): string {
  return `${Date.parse(batch.createdAt)}_${batch.id}`;
}

/** A `before` parameter: a cursor `next` gave, or a timestamp (the earlier form); null when it is neither. */
export function parseListCursor(text: string): BatchListCursor | null {
  const m = CURSOR.exec(text);
  if (m) return { at: Number(m[1]), id: m[2] };
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : { at };
}

/** Whether a batch created at `at` with `id` comes after the cursor in the list's order (newest first, then id). */
export function isAfterCursor(at: number, id: string, cursor: BatchListCursor | undefined): boolean {
  if (cursor === undefined) return true;
  if (at !== cursor.at) return at < cursor.at;
  return cursor.id !== undefined && id < cursor.id;
}

/** The list's order: newest first, then by id descending (a sorted set's reverse order for equal scores). */
export function listOrder(a: { createdAt: string; id: string }, b: { createdAt: string; id: string }): number {
  return Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

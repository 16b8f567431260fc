import { SENSITIVITY_LEVELS, type Sensitivity } from '#libs/domain';
import type { ApiClient } from '../../test/support/system-under-test.js';
import type { ChaosProvider } from './chaos-system.js';

/**
 * Markers tie what left for a provider back to the item it came from: every item text the harness sends
 * starts with one, e.g. "mk3b12i7q: …". Letters around short numbers, so no PII rule mistakes it for a
 * phone number and the prompt (which starts with the item's text) always carries it whole.
 */
export const MARKER = /mk[a-z0-9]+b\d+i\d+q/g;

export function markerFor(run: string, batch: number, item: number): string {
  return `mk${run}b${batch}i${item}q`;
}

/** A batch the API answered 202 for: the harness owes the proof that each of its items ends once. */
export interface AcceptedBatch {
  id: string;
  phase: string;
  /** The marker each submitted item carried, by index (null when a fuzzed text lost it). */
  markers: (string | null)[];
}

export interface BatchAudit {
  items: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Accepted batches that no longer exist plus items missing or never finished. */
  lost: number;
  /** Items whose completion was counted or charged more than once (see `audit`). */
  duplicated: number;
  /** Items that ran more than once (a cloud request re-sent, or a local run started again) — allowed. */
  reran: number;
  /**
   * "item completed" lines in the workers' logs (all of them, not only these batches'). A killed worker's
   * last completions may go unlogged, but none at all means the line changed shape and the per-item
   * duplicate check is blind.
   */
  completionLogs: number;
  /** Item sensitivity by marker, from the items' records (the declared level or the PII-raised one). */
  sensitivity: Map<string, Sensitivity>;
  problems: string[];
}

/** Everything the harness submitted, accepted or not, so the doubles' records can be checked against it. */
export class Ledger {
  readonly accepted: AcceptedBatch[] = [];
  /** Markers of submissions the API refused (4xx) or that never got an answer: none may reach a provider. */
  readonly refusedMarkers = new Set<string>();
  private batchCounter = 0;

  constructor(readonly run: string) {}

  nextBatchNumber(): number {
    return this.batchCounter++;
  }

  accept(id: string, phase: string, markers: (string | null)[]): void {
    if (this.accepted.some((b) => b.id === id)) return; // an Idempotency-Key retry answered with the same batch
    this.accepted.push({ id, phase, markers });
  }

  refuse(markers: (string | null)[]): void {
    for (const m of markers) if (m) this.refusedMarkers.add(m);
  }
}

/** Markers of each item of a parsed body, by index; null where none is found. */
export function markersOf(body: unknown): (string | null)[] {
  const items = (body as { items?: unknown })?.items;
  if (!Array.isArray(items)) return [];
  return items.map((item) => {
    const text = JSON.stringify(item ?? '');
    return text.match(MARKER)?.[0] ?? null;
  });
}

/** Waits until every batch has finished (or the time is up); returns the ids that did not. */
export async function waitAllFinished(client: ApiClient, ids: string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let open = [...ids];
  while (open.length > 0 && Date.now() < deadline) {
    const still: string[] = [];
    for (const id of open) {
      const res = await client.request('GET', `/v1/batches/${id}`).catch(() => null);
      // 404 is final too (a lost batch); audit counts it.
      if (!res || res.status >= 500 || (res.status === 200 && !res.json?.finishedAt)) still.push(id);
    }
    open = still;
    if (open.length > 0) await new Promise((r) => setTimeout(r, 250));
  }
  return open;
}

/**
 * Counts, per accepted batch, what became of each item. Definitions:
 * - lost: the batch is gone (404), or one of its items is missing or not finished (queued/running)
 *   when the run ends.
 * - duplicated: an item whose completion was applied twice — it took two "item completed" log lines
 *   (a worker logs one only when its guarded transition to completed applied), or the batch's
 *   counters say more items completed than are in status completed, or the batch's tokens or cost
 *   exceed the sum of its items' (an item charged twice; counted as one duplicate when the sums alone
 *   show it). An item that merely RAN twice — its worker killed mid-request, the request re-sent — is
 *   not a duplicate as long as it is completed and charged once: that is `reran`.
 */
export async function audit(client: ApiClient, batches: AcceptedBatch[], workerOutput: string): Promise<BatchAudit> {
  const completions = new Map<string, number>();
  for (const m of workerOutput.matchAll(/"msg":"item completed","batchId":"([^"]+)","index":(\d+)/g)) {
    const key = `${m[1]}:${m[2]}`;
    completions.set(key, (completions.get(key) ?? 0) + 1);
  }
  const logged = [...completions.values()].reduce((a, b) => a + b, 0);
  const out: BatchAudit = {
    completionLogs: 0,
    items: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    lost: 0,
    duplicated: 0,
    reran: 0,
    sensitivity: new Map(),
    problems: [],
  };
  for (const batch of batches) {
    out.items += batch.markers.length;
    const view = await client.request('GET', `/v1/batches/${batch.id}`);
    if (view.status === 404) {
      out.lost += batch.markers.length;
      out.problems.push(`${batch.phase}: accepted batch ${batch.id} is gone`);
      continue;
    }
    const items: any[] = [];
    for (let offset = 0; ; offset += 1000) {
      const page = await client.request('GET', `/v1/batches/${batch.id}/items?offset=${offset}&limit=1000`);
      items.push(...(page.json?.items ?? []));
      if ((page.json?.items ?? []).length < 1000) break;
    }
    const byIndex = new Map(items.map((i) => [i.index, i]));
    const duplicatedHere = new Set<number>();
    let completedHere = 0;
    let sumOut = 0;
    let sumIn = 0;
    let sumCost = 0;
    batch.markers.forEach((marker, index) => {
      const item = byIndex.get(index);
      if (!item) {
        out.lost += 1;
        out.problems.push(`${batch.phase}: item ${index} of ${batch.id} is missing`);
        return;
      }
      if (marker) out.sensitivity.set(marker, item.sensitivity);
      if (item.status === 'completed') completedHere += 1;
      if (item.status === 'completed' || item.status === 'failed' || item.status === 'cancelled')
        out[item.status as 'completed' | 'failed' | 'cancelled'] += 1;
      else {
        out.lost += 1;
        out.problems.push(`${batch.phase}: item ${index} of ${batch.id} still ${item.status}`);
      }
      if (item.status === 'failed')
        out.problems.push(`${batch.phase}: item ${index} of ${batch.id} failed: ${item.error}`);
      if ((completions.get(`${batch.id}:${index}`) ?? 0) > 1) duplicatedHere.add(index);
      if (item.attempts > 1) out.reran += 1;
      sumIn += item.usage?.inputTokens ?? 0;
      sumOut += item.usage?.outputTokens ?? 0;
      sumCost += item.costUsd ?? 0;
    });
    const b = view.json;
    const excessCompletions = b.counts.completed - completedHere;
    const overcharged = b.usage.outputTokens > sumOut || b.usage.inputTokens > sumIn || b.cost.usd > sumCost + 1e-9;
    let dup = duplicatedHere.size;
    if (excessCompletions > dup) dup = excessCompletions;
    if (overcharged && dup === 0) dup = 1;
    if (dup > 0)
      out.problems.push(
        `${batch.phase}: batch ${batch.id}: ${dup} item(s) completed or charged twice (counters ${JSON.stringify(b.counts)}, usage ${JSON.stringify(b.usage)} vs items ${sumIn}/${sumOut})`,
      );
    out.duplicated += dup;
    if (b.counts.total !== batch.markers.length)
      out.problems.push(
        `${batch.phase}: batch ${batch.id} holds ${b.counts.total} items, ${batch.markers.length} were submitted`,
      );
  }
  out.completionLogs = logged;
  return out;
}

export interface LeakReport {
  /** Requests each double received for chat completions. */
  requests: Record<string, number>;
  /** Requests that carried an item above the provider's clearance, or an item that was never accepted. */
  leaked: number;
  details: string[];
}

/**
 * Reads every request the doubles recorded (recorded before any fault is applied, so failed and hung
 * requests count too) and matches each to items by marker. A leak is a request carrying an item whose
 * sensitivity (declared, or raised by PII detection) is above the provider's clearance, or carrying an
 * item from a submission the API refused.
 */
export function leakCheck(
  providers: ChaosProvider[],
  ledger: Ledger,
  sensitivity: Map<string, Sensitivity>,
): LeakReport {
  const rank = (s: Sensitivity) => SENSITIVITY_LEVELS.indexOf(s);
  const report: LeakReport = { requests: {}, leaked: 0, details: [] };
  for (const p of providers) {
    const requests = p.double.completionRequests();
    report.requests[p.name] = requests.length;
    for (const r of requests) {
      const markers = new Set(JSON.stringify(r.body).match(MARKER) ?? []);
      for (const m of markers) {
        const level = sensitivity.get(m);
        if (level !== undefined && rank(level) <= rank(p.clearance)) continue;
        report.leaked += 1;
        const never = ledger.refusedMarkers.has(m)
          ? 'an item from a refused submission'
          : 'an item the harness never saw accepted';
        report.details.push(
          level === undefined
            ? `${p.name} received ${m}, ${never}`
            : `${p.name} (cleared to ${p.clearance}) received ${m}, a ${level} item`,
        );
      }
    }
  }
  return report;
}

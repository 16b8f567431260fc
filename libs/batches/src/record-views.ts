import type { Sensitivity } from '#libs/domain';
import type { RouteTarget } from '#libs/routing';
import { batchStatus } from './batch-status.js';
import { roundUsd } from './batch-budget.js';
import type {
  BatchKind,
  BatchOrigin,
  BatchView,
  BranchOutputSpec,
  BranchOutputStatus,
  BranchOutputView,
  ItemCounts,
  ItemPrivacy,
  ItemRoute,
  ItemStatus,
  ItemView,
} from '#libs/domain';

/**
 * What the API shows of a batch or item, from its Redis hash as stored: pure, so records written by older
 * versions (fields missing, a deadline outside the calendar) are read without a Redis in the test.
 */
export function toBatchView(h: Record<string, string>): BatchView {
  const counts: ItemCounts = {
    total: num(h.total),
    queued: num(h.queued),
    running: num(h.running),
    completed: num(h.completed),
    failed: num(h.failed),
    cancelled: num(h.cancelled),
  };
  return {
    id: h.id,
    kind: h.kind as BatchKind,
    status: batchStatus(counts),
    counts,
    sensitivity: h.sensitivity as Sensitivity,
    deadline: iso(h.deadline)!,
    routes: { local: num(h.routesLocal), cloud: num(h.routesCloud) },
    usage: { inputTokens: num(h.inputTokens), outputTokens: num(h.outputTokens) },
    cost: { usd: Math.round(num(h.costUsd) * 1e9) / 1e9 },
    budget:
      h.maxCostUsd === undefined
        ? null
        : {
            maxUsd: num(h.maxCostUsd),
            spentUsd: roundUsd(num(h.costUsd) + Math.max(0, num(h.carriedUsd))),
            reservedUsd: roundUsd(Math.max(0, num(h.reservedUsd))),
            reached: h.budgetReached === '1',
          },
    createdAt: iso(h.createdAt)!,
    finishedAt: iso(h.finishedAt),
    tenant: h.tenant ?? null,
    output: h.output ? toBranchOutputView(h) : null,
    origin: h.origin ? (JSON.parse(h.origin) as BatchOrigin) : null,
    // Filled in by BatchViews from the open items' estimates; a record alone does not hold it.
    estimatedFinishAt: null,
    callback: h.callback ? (JSON.parse(h.callback) as BatchView['callback']) : null,
  };
}

export function toItemView(h: Record<string, string>): ItemView {
  const routeHistory: ItemRoute[] = h.routes ? JSON.parse(h.routes) : [];
  const current = routeHistory.at(-1);
  const done = h.status === 'completed';
  return {
    id: h.id,
    index: num(h.index),
    status: h.status as ItemStatus,
    sensitivity: h.sensitivity as Sensitivity,
    pii: h.pii ? (JSON.parse(h.pii) as ItemPrivacy) : null,
    route: current
      ? { target: current.target, provider: current.provider, model: current.model, reason: current.reason }
      : null,
    routeHistory,
    usage: done || h.inputTokens ? { inputTokens: num(h.inputTokens), outputTokens: num(h.outputTokens) } : null,
    costUsd: done || h.costUsd ? num(h.costUsd) : null,
    result: h.result ?? null,
    diff: h.diff ?? null,
    error: h.error ?? null,
    errorCode: h.status === 'failed' ? (h.errorCode ?? null) : null,
    attempts: num(h.attempts),
    ruledOut: h.ruledOut ? ruledOutOf(h.ruledOut) : [],
    failedMoves: num(h.failedMoves),
    deferredAt: iso(h.deferredAt),
    usageEstimated: h.usageEstimated === '1',
    startedAt: iso(h.startedAt),
    finishedAt: iso(h.finishedAt),
  };
}

function toBranchOutputView(h: Record<string, string>): BranchOutputView {
  const spec = JSON.parse(h.output) as BranchOutputSpec;
  return {
    branch: spec.branch,
    base: spec.base,
    status: (h.outputStatus ?? 'pending') as BranchOutputStatus,
    commit: h.outputCommit ?? null,
    files: num(h.outputFiles),
    notWritten: h.outputNotWritten ? (JSON.parse(h.outputNotWritten) as string[]) : [],
    error: h.outputError ?? null,
  };
}

/** The item's ruledOut record, `{"target:provider": reason}` (providerKey), as a list. */
function ruledOutOf(raw: string): ItemView['ruledOut'] {
  return Object.entries(JSON.parse(raw) as Record<string, string>).map(([key, reason]) => {
    const at = key.indexOf(':');
    return { target: key.slice(0, at) as RouteTarget, provider: key.slice(at + 1), reason };
  });
}

function num(v: string | undefined): number {
  return v === undefined || v === '' ? 0 : Number(v);
}

/**
 * A stored epoch as ISO-8601; null when absent or outside the calendar. Records written before deadlines
 * were bounded can hold `P300000Y` from their creation: a read must never throw RangeError (a 500).
 */
function iso(v: string | undefined): string | null {
  const at = v ? new Date(Number(v)) : null;
  return at === null || Number.isNaN(at.getTime()) ? null : at.toISOString();
}

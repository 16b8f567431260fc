import type { BatchView, ItemView } from '#libs/domain';
import { duration, esc, round, usd } from './html.js';
import { barChart, stackedBar, timeline, type Part, type TimelineRow } from './svg-charts.js';

/**
 * The dashboard's two pages (issue 15 §6), rendered from plain data: the recent batches with the system's
 * pools and providers, and one batch with the timeline of its items. Only ids, counts, routes, costs and
 * times are shown: never an item's text, prompt or answer.
 */

/** One palette for every chart, so a colour means the same thing everywhere. */
export const COLORS = {
  completed: '#38a169',
  running: '#d69e2e',
  queued: '#cbd5e0',
  failed: '#e53e3e',
  cancelled: '#718096',
  local: '#3182ce',
  cloud: '#dd6b20',
} as const;

/** A live pool as the dashboard shows it. */
export interface PoolPanelRow {
  id: string;
  target: 'local' | 'cloud';
  provider: string;
  model: string;
  device: string;
  status: string;
  sequences: { max: number; active: number; busy: number };
  /** Measured over its completions; null before the first. */
  tokensPerSec: number | null;
}

/** A provider as the router sees it, as the dashboard shows it. */
export interface ProviderPanelRow {
  name: string;
  target: 'local' | 'cloud';
  model: string;
  available: boolean;
  /** Cloud providers only. */
  circuit: { state: string; failures: number } | null;
  /** The latency the router uses (configured, or fitted from calls). */
  latencyMs: number;
  tokensPerSec: number;
  /** Cloud: what measured calls fitted (null until enough calls). */
  fit: { latencyMs: number; tokensPerSec: number | null; calls: number } | null;
  backlogTokens: number;
  /** Cloud: the configured quota. */
  limits: { requestsPerMinute: number | null; tokensPerMinute: number | null } | null;
}

/** Pools and providers: present only for a caller with the admin scope (or in open mode). */
export interface AdminPanels {
  pools: PoolPanelRow[];
  providers: ProviderPanelRow[];
}

export interface OverviewPage {
  batches: BatchView[];
  /** Null: the caller lacks the admin scope, and the page says so instead. */
  admin: AdminPanels | null;
  now: number;
  refreshSeconds: number;
  /**
   * Where this page sits in the list: its size, the cursor of the page after it (null: this is the last), and
   * whether it is the newest. Absent: one page, no links.
   */
  pages?: { limit: number; older: string | null; isFirst: boolean };
}

export interface BatchPage {
  batch: BatchView;
  /** The items on this page, from `offset`. */
  items: ItemView[];
  offset: number;
  limit: number;
  now: number;
  refreshSeconds: number;
}

/**
 * How early the batch finished (or is expected to) before its deadline, in ms; negative when late. From
 * finishedAt once finished, else from estimatedFinishAt; null for an open batch without an estimate.
 */
export function deadlineSlackMs(batch: BatchView): number | null {
  const end = batch.finishedAt ?? batch.estimatedFinishAt;
  return end === null ? null : Date.parse(batch.deadline) - Date.parse(end);
}

/** An item as a timeline row: queued from the batch's creation, moves from its route history. */
export function timelineRowOf(item: ItemView, batchCreatedAt: number): TimelineRow {
  const history = item.routeHistory;
  const moves = history.slice(1).map((route) => ({
    at: Date.parse(route.at),
    kind: route.reason.startsWith('escalated') ? ('escalation' as const) : ('reroute' as const),
    to: `${route.target} ${route.provider}`,
  }));
  const legs = history.map((route) => ({
    from: Date.parse(route.at),
    target: route.target,
    where: `${route.target} ${route.provider} (${route.model})`,
  }));
  return {
    label: item.id,
    status: item.status,
    queuedAt: batchCreatedAt,
    startedAt: item.startedAt === null ? null : Date.parse(item.startedAt),
    finishedAt: item.finishedAt === null ? null : Date.parse(item.finishedAt),
    // An item not routed yet (none stays so past intake) is drawn as waiting for the local pools.
    legs: legs.length > 0 ? legs : [{ from: batchCreatedAt, target: 'local', where: 'not routed' }],
    moves,
  };
}

export function renderOverviewPage(page: OverviewPage): string {
  const { batches } = page;
  const totals = sumCounts(batches);
  const routes = batches.reduce((r, b) => ({ local: r.local + b.routes.local, cloud: r.cloud + b.routes.cloud }), {
    local: 0,
    cloud: 0,
  });
  const cost = batches.reduce((sum, b) => sum + b.cost.usd, 0);
  const rows = batches.map((b) => batchRow(b)).join('');
  const isFirst = page.pages?.isFirst ?? true;
  const summary = `<section id="summary"><h2>${isFirst ? 'Recent batches' : 'Older batches'}: ${batches.length}</h2>
<div class="cards">
<div class="card"><h3>Items by status</h3>${stackedBar(statusParts(totals), { title: 'Items by status', width: 320, height: 18 })}${legend(statusParts(totals))}</div>
<div class="card"><h3>Items by route</h3>${stackedBar(routeParts(routes), { title: 'Items by route', width: 320, height: 18 })}${legend(routeParts(routes))}</div>
<div class="card"><h3>Cost</h3><p class="big">${esc(usd(cost))}</p><p class="muted">over these batches</p></div>
</div></section>`;
  const table = batches.length
    ? `<table id="batches"><thead><tr><th>Batch</th><th>Kind</th><th>Status</th><th>Progress</th><th>Routes local / cloud</th><th>Cost</th><th>Deadline slack</th><th>Created</th></tr></thead><tbody>${rows}</tbody></table>`
    : `<p class="muted" id="no-batches">${isFirst ? 'No batches yet.' : 'No older batches.'}</p>`;
  return layout({
    title: 'Switchyard — batches',
    refreshSeconds: page.refreshSeconds,
    now: page.now,
    body: `${summary}<section><h2>Batches</h2>${table}${overviewPager(page.pages)}</section>${adminSections(page.admin)}`,
  });
}

export function renderBatchPage(page: BatchPage): string {
  const { batch, items, offset } = page;
  const created = Date.parse(batch.createdAt);
  const rows = items.map((item) => timelineRowOf(item, created));
  const end = Math.max(
    batch.finishedAt ? Date.parse(batch.finishedAt) : page.now,
    ...rows.flatMap((r) => [r.finishedAt ?? 0, ...r.moves.map((m) => m.at)]),
  );
  const byProvider = new Map<string, Part>();
  for (const item of items) {
    if (!item.route) continue;
    const label = `${item.route.target} ${item.route.provider}`;
    const part = byProvider.get(label) ?? { label, value: 0, color: COLORS[item.route.target] };
    part.value += 1;
    byProvider.set(label, part);
  }
  const moved = rows.filter((r) => r.moves.length > 0).length;
  const shown = items.length ? `items ${offset + 1}–${offset + items.length} of ${batch.counts.total}` : 'no items';
  const pager = [
    offset > 0
      ? `<a href="?offset=${Math.max(0, offset - page.limit)}&amp;limit=${page.limit}">← earlier items</a>`
      : '',
    offset + items.length < batch.counts.total
      ? `<a href="?offset=${offset + items.length}&amp;limit=${page.limit}">later items →</a>`
      : '',
  ].join(' ');
  const facts: Array<[string, string]> = [
    ['Status', `<span class="status ${esc(batch.status)}">${esc(batch.status)}</span>`],
    ['Kind', esc(batch.kind)],
    ['Sensitivity', esc(batch.sensitivity)],
    [
      'Items',
      `${batch.counts.completed} completed, ${batch.counts.failed} failed, ${batch.counts.cancelled} cancelled, ${batch.counts.running} running, ${batch.counts.queued} queued of ${batch.counts.total}`,
    ],
    ['Routes', `${batch.routes.local} local, ${batch.routes.cloud} cloud`],
    ['Tokens', `${batch.usage.inputTokens} in, ${batch.usage.outputTokens} out`],
    [
      'Cost',
      esc(usd(batch.cost.usd)) +
        (batch.budget ? ` of ${esc(usd(batch.budget.maxUsd))} budget${batch.budget.reached ? ' (reached)' : ''}` : ''),
    ],
    ['Deadline', `${esc(batch.deadline)} — ${slackHtml(batch)}`],
    ['Created', esc(batch.createdAt)],
    [
      'Finished',
      batch.finishedAt
        ? esc(batch.finishedAt)
        : batch.estimatedFinishAt
          ? `expected ${esc(batch.estimatedFinishAt)}`
          : '—',
    ],
  ];
  const body = `<p><a href="/dashboard">← all batches</a></p>
<section id="batch" data-batch-id="${esc(batch.id)}"><h2>Batch <code>${esc(batch.id)}</code></h2>
<table class="facts">${facts.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>
<div class="cards">
<div class="card"><h3>Progress</h3>${stackedBar(statusParts(batch.counts), { title: 'Progress', width: 320, height: 18 })}${legend(statusParts(batch.counts))}</div>
<div class="card" id="providers-chart"><h3>Routes by provider (${esc(shown)})</h3>${barChart([...byProvider.values()], { title: 'Items by provider', width: 420 })}</div>
</div></section>
<section id="timeline"><h2>Timeline (${esc(shown)})</h2>
<p class="muted">Grey: queued. Then coloured by where the item ran: ${swatch(COLORS.local)} local, ${swatch(COLORS.cloud)} cloud; a red outline: failed. ◆ marks an escalation or a reroute (${moved} on this page).</p>
${timeline(rows, { title: 'Items over time', from: created, to: end, colors: { queued: COLORS.queued, local: COLORS.local, cloud: COLORS.cloud, failed: COLORS.failed } })}
<p class="pager">${pager}</p></section>`;
  const open = batch.finishedAt === null;
  return layout({
    title: `Switchyard — batch ${batch.id}`,
    // A finished batch no longer changes: no refresh.
    refreshSeconds: open ? page.refreshSeconds : null,
    now: page.now,
    body,
  });
}

/**
 * What the dashboard shows while the job store (Redis) cannot be reached: said on a page that refreshes itself as
 * the others do, so the batches come back on their own once Redis does.
 */
export function renderUnavailablePage(page: { now: number; refreshSeconds: number }): string {
  return layout({
    title: 'Switchyard — job store unreachable',
    refreshSeconds: page.refreshSeconds,
    now: page.now,
    body: `<section id="unavailable"><h2>The job store (Redis) cannot be reached</h2><p>Batches, pools and providers show again once it is back; this page tries every ${page.refreshSeconds}s.</p></section>`,
  });
}

/** Links to the newest batches (from an older page) and to the older ones (from a full page). */
function overviewPager(pages: OverviewPage['pages']): string {
  if (!pages) return '';
  const links = [
    pages.isFirst ? '' : `<a class="newest" href="/dashboard?limit=${pages.limit}">← newest batches</a>`,
    pages.older === null
      ? ''
      : `<a class="older" href="${esc(`/dashboard?before=${encodeURIComponent(pages.older)}&limit=${pages.limit}`)}">older batches →</a>`,
  ].filter(Boolean);
  return links.length ? `<p class="pager">${links.join(' ')}</p>` : '';
}

function batchRow(b: BatchView): string {
  const href = `/dashboard/batches/${encodeURIComponent(b.id)}`;
  const routes = routeParts(b.routes);
  return `<tr class="batch" data-batch-id="${esc(b.id)}" data-status="${esc(b.status)}">
<td><a href="${esc(href)}"><code>${esc(b.id)}</code></a></td>
<td>${esc(b.kind)}</td>
<td><span class="status ${esc(b.status)}">${esc(b.status)}</span></td>
<td class="progress">${stackedBar(statusParts(b.counts), { title: `Progress of ${b.id}` })} ${b.counts.completed + b.counts.failed + b.counts.cancelled}/${b.counts.total}</td>
<td class="routes">${stackedBar(routes, { title: `Routes of ${b.id}`, width: 120 })} ${b.routes.local} / ${b.routes.cloud}</td>
<td>${esc(usd(b.cost.usd))}</td>
<td>${slackHtml(b)}</td>
<td>${esc(b.createdAt.replace('T', ' ').slice(0, 19))}</td></tr>`;
}

function adminSections(admin: AdminPanels | null): string {
  if (admin === null)
    return '<section id="admin-note"><p class="muted">Pools and providers are shown to keys with the admin scope.</p></section>';
  const pools = admin.pools;
  const busy = barChart(
    pools.map((p) => ({ label: poolLabel(p), value: p.sequences.busy, color: COLORS[p.target] })),
    { title: 'Sequences busy per pool', max: Math.max(1, ...pools.map((p) => p.sequences.active)) },
  );
  const speed = barChart(
    pools.map((p) => ({ label: poolLabel(p), value: p.tokensPerSec ?? 0, color: COLORS[p.target] })),
    { title: 'Measured tokens per second per pool', unit: 'tok/s' },
  );
  const poolRows = pools
    .map(
      (p) =>
        `<tr class="pool" data-pool="${esc(p.id)}" data-target="${p.target}"><td>${esc(p.id)}</td><td>${esc(p.target)} ${esc(p.provider)}</td><td>${esc(p.model)}</td><td>${esc(p.device)}</td><td>${esc(p.status)}</td><td>${p.sequences.busy} / ${p.sequences.active} (of ${p.sequences.max})</td><td>${p.tokensPerSec === null ? '—' : esc(round(p.tokensPerSec, 1))}</td></tr>`,
    )
    .join('');
  const providers = admin.providers;
  const latency = barChart(
    providers.map((p) => ({ label: p.name, value: p.latencyMs, color: COLORS[p.target] })),
    { title: 'Latency per provider (ms)', unit: 'ms' },
  );
  const providerRows = providers
    .map((p) => {
      const circuit = p.circuit
        ? `<span class="circuit ${esc(p.circuit.state)}">${esc(p.circuit.state)}</span>${p.circuit.failures ? ` (${p.circuit.failures} ${p.circuit.failures === 1 ? 'failure' : 'failures'})` : ''}`
        : '—';
      const fit = p.fit
        ? `${p.fit.latencyMs} ms + ${p.fit.tokensPerSec === null ? '—' : esc(round(p.fit.tokensPerSec, 1))} tok/s over ${p.fit.calls} calls`
        : p.target === 'cloud'
          ? 'configured (too few calls to fit)'
          : '—';
      const quota = p.limits
        ? `${p.limits.requestsPerMinute ?? '∞'} req/min, ${p.limits.tokensPerMinute ?? '∞'} tok/min`
        : '—';
      return `<tr class="provider" data-provider="${esc(p.name)}" data-target="${p.target}" data-circuit="${esc(p.circuit?.state ?? 'none')}"><td>${esc(p.name)}</td><td>${esc(p.target)}</td><td>${esc(p.model)}</td><td>${p.available ? 'yes' : 'no'}</td><td>${circuit}</td><td>${p.latencyMs} ms, ${esc(round(p.tokensPerSec, 1))} tok/s</td><td>${fit}</td><td>${esc(quota)}</td><td>${Math.round(p.backlogTokens)}</td></tr>`;
    })
    .join('');
  return `<section id="pools"><h2>Pools</h2>
${pools.length ? `<div class="cards"><div class="card"><h3>Sequences busy</h3>${busy}</div><div class="card"><h3>Tokens per second</h3>${speed}</div></div>` : '<p class="muted">No live pool.</p>'}
<table><thead><tr><th>Pool</th><th>Serves</th><th>Model</th><th>Device</th><th>Status</th><th>Busy / active</th><th>tok/s</th></tr></thead><tbody>${poolRows}</tbody></table></section>
<section id="providers"><h2>Providers</h2>
<div class="cards"><div class="card"><h3>Latency</h3>${latency}</div></div>
<table><thead><tr><th>Provider</th><th>Where</th><th>Model</th><th>Available</th><th>Circuit</th><th>Routing assumes</th><th>Latency fit</th><th>Quota</th><th>Backlog tokens</th></tr></thead><tbody>${providerRows}</tbody></table></section>`;
}

function poolLabel(p: PoolPanelRow): string {
  return `${p.provider} ${p.id.split(':').slice(0, 2).join(':')}`;
}

function sumCounts(batches: BatchView[]): BatchView['counts'] {
  const sum = { total: 0, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const b of batches) for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += b.counts[k];
  return sum;
}

function statusParts(c: BatchView['counts']): Part[] {
  return (['completed', 'failed', 'cancelled', 'running', 'queued'] as const).map((s) => ({
    label: s,
    value: c[s],
    color: COLORS[s],
  }));
}

function routeParts(r: BatchView['routes']): Part[] {
  return [
    { label: 'local', value: r.local, color: COLORS.local },
    { label: 'cloud', value: r.cloud, color: COLORS.cloud },
  ];
}

function legend(parts: Part[]): string {
  return `<p class="legend">${parts.map((p) => `${swatch(p.color)} ${esc(p.label)} ${p.value}`).join(' ')}</p>`;
}

function swatch(color: string): string {
  return `<span class="swatch" style="background:${esc(color)}"></span>`;
}

function slackHtml(b: BatchView): string {
  const slack = deadlineSlackMs(b);
  if (slack === null) return '<span class="slack">—</span>';
  const expected = b.finishedAt === null ? 'expected ' : '';
  return slack >= 0
    ? `<span class="slack early" data-slack-ms="${slack}">${expected}${esc(duration(slack))} early</span>`
    : `<span class="slack late" data-slack-ms="${slack}">${expected}late by ${esc(duration(slack))}</span>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5rem 2rem;color:#1a202c}
header{display:flex;justify-content:space-between;align-items:baseline;border-bottom:1px solid #e2e8f0;margin-bottom:1rem}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}h3{font-size:.9rem;margin:.2rem 0 .5rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #edf2f7;vertical-align:middle}
.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #e2e8f0;border-radius:6px;padding:.6rem .8rem}
.big{font-size:1.5rem;margin:.2rem 0}.muted{color:#718096}.legend{font-size:12px;margin:.3rem 0 0}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;vertical-align:middle}
.status{padding:0 .4rem;border-radius:3px;background:#edf2f7}.status.completed{background:#c6f6d5}.status.failed{background:#fed7d7}
.status.partial{background:#feebc8}.status.running{background:#fefcbf}.status.cancelled{background:#e2e8f0}
.slack.late{color:#c53030}.slack.early{color:#2f855a}.circuit.open{color:#c53030;font-weight:600}.circuit.half-open{color:#b7791f}
code{font-size:12px}svg.chart{vertical-align:middle}td.progress,td.routes,.slack{white-space:nowrap}`;

function layout(page: { title: string; refreshSeconds: number | null; now: number; body: string }): string {
  const refresh = page.refreshSeconds ? `<meta http-equiv="refresh" content="${page.refreshSeconds}">` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">${refresh}
<title>${esc(page.title)}</title><style>${STYLE}</style></head><body>
<header><h1><a href="/dashboard">Switchyard</a></h1><span class="muted">as of ${esc(new Date(page.now).toISOString().replace('T', ' ').slice(0, 19))} UTC${page.refreshSeconds ? `, refreshed every ${page.refreshSeconds}s` : ''}</span></header>
${page.body}</body></html>`;
}

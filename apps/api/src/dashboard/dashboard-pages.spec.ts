import { describe, expect, it } from '@jest/globals';
import type { BatchView, ItemView } from '#libs/domain';
import {
  deadlineSlackMs,
  renderBatchPage,
  renderOverviewPage,
  timelineRowOf,
  type AdminPanels,
} from './dashboard-pages.js';

const XSS = '<script>alert(1)</script>';

function batch(over: Partial<BatchView> = {}): BatchView {
  return {
    id: 'b1',
    kind: 'document-processing',
    status: 'completed',
    counts: { total: 2, queued: 0, running: 0, completed: 2, failed: 0, cancelled: 0 },
    sensitivity: 'internal',
    deadline: '2026-01-01T01:00:00.000Z',
    routes: { local: 1, cloud: 1 },
    usage: { inputTokens: 10, outputTokens: 20 },
    cost: { usd: 0.0012 },
    budget: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:10:00.000Z',
    tenant: null,
    output: null,
    origin: null,
    estimatedFinishAt: null,
    callback: null,
    ...over,
  };
}

function item(over: Partial<ItemView> = {}): ItemView {
  return {
    id: 'doc-1',
    index: 0,
    status: 'completed',
    sensitivity: 'internal',
    pii: null,
    route: { target: 'local', provider: 'tiny', model: 'tiny', reason: 'cheapest in time' },
    routeHistory: [
      { target: 'local', provider: 'tiny', model: 'tiny', reason: 'cheapest in time', at: '2026-01-01T00:00:00.000Z' },
    ],
    usage: { inputTokens: 5, outputTokens: 10 },
    costUsd: 0,
    result: 'THE-ANSWER-TEXT',
    diff: null,
    error: null,
    errorCode: null,
    attempts: 1,
    ruledOut: [],
    failedMoves: 0,
    deferredAt: null,
    usageEstimated: false,
    startedAt: '2026-01-01T00:01:00.000Z',
    finishedAt: '2026-01-01T00:02:00.000Z',
    ...over,
  };
}

const admin: AdminPanels = {
  pools: [
    {
      id: 'host:1:q',
      target: 'local',
      provider: 'tiny',
      model: 'tiny',
      device: 'cpu',
      status: 'consuming',
      sequences: { max: 4, active: 2, busy: 1 },
      tokensPerSec: 150,
    },
  ],
  providers: [
    {
      name: XSS,
      target: 'cloud',
      model: 'm',
      available: true,
      circuit: { state: 'open', failures: 3 },
      latencyMs: 200,
      tokensPerSec: 100,
      fit: null,
      backlogTokens: 0,
      limits: { requestsPerMinute: 60, tokensPerMinute: null },
    },
  ],
};

describe('deadlineSlackMs', () => {
  it('is the time left between the end (finished, else expected) and the deadline; negative when late', () => {
    expect(deadlineSlackMs(batch())).toBe(50 * 60_000);
    expect(
      deadlineSlackMs(batch({ finishedAt: null, estimatedFinishAt: '2026-01-01T01:05:00.000Z', status: 'running' })),
    ).toBe(-5 * 60_000);
    expect(deadlineSlackMs(batch({ finishedAt: null, estimatedFinishAt: null }))).toBeNull();
  });
});

describe('timelineRowOf', () => {
  it('marks a move "escalation" when its reason says escalated, otherwise "reroute"', () => {
    const row = timelineRowOf(
      item({
        route: { target: 'local', provider: 'tiny', model: 'tiny', reason: 'cloud failed' },
        routeHistory: [
          { target: 'local', provider: 'tiny', model: 'tiny', reason: 'cheapest', at: '2026-01-01T00:00:00.000Z' },
          {
            target: 'cloud',
            provider: 'openai',
            model: 'm',
            reason: 'escalated: late',
            at: '2026-01-01T00:00:05.000Z',
          },
          { target: 'local', provider: 'tiny', model: 'tiny', reason: 'cloud failed', at: '2026-01-01T00:00:09.000Z' },
        ],
      }),
      Date.parse('2026-01-01T00:00:00.000Z'),
    );
    expect(row.moves.map((m) => [m.kind, m.to, m.at - Date.parse('2026-01-01T00:00:00.000Z')])).toEqual([
      ['escalation', 'cloud openai', 5000],
      ['reroute', 'local tiny', 9000],
    ]);
    expect(row.legs.map((l) => [l.target, l.from - Date.parse('2026-01-01T00:00:00.000Z')])).toEqual([
      ['local', 0],
      ['cloud', 5000],
      ['local', 9000],
    ]);
  });
});

describe('the dashboard pages', () => {
  it('escape every user-given value: no markup from a batch id, an item id or a provider name reaches the page', () => {
    const overview = renderOverviewPage({ batches: [batch({ id: XSS })], admin, now: 0, refreshSeconds: 10 });
    const page = renderBatchPage({
      batch: batch({ id: XSS }),
      items: [item({ id: XSS, route: { target: 'cloud', provider: XSS, model: XSS, reason: XSS } })],
      offset: 0,
      limit: 200,
      now: 0,
      refreshSeconds: 10,
    });
    for (const html of [overview, page]) {
      expect(html).not.toContain('<script');
      expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    }
    // The link to the batch page carries the id percent-encoded.
    expect(overview).toContain(`href="/dashboard/batches/${encodeURIComponent(XSS)}"`);
  });

  it('never show an item’s answer, diff or error text', () => {
    const html = renderBatchPage({
      batch: batch(),
      items: [item({ diff: 'THE-DIFF-TEXT' }), item({ id: 'doc-2', status: 'failed', error: 'THE-ERROR-TEXT' })],
      offset: 0,
      limit: 200,
      now: 0,
      refreshSeconds: 10,
    });
    expect(html).toContain('data-item="doc-2"');
    expect(html).not.toMatch(/THE-(ANSWER|DIFF|ERROR)-TEXT/);
  });

  it('show pools and providers only with the admin panels, and a note instead without them', () => {
    const withAdmin = renderOverviewPage({ batches: [batch()], admin, now: 0, refreshSeconds: 10 });
    const without = renderOverviewPage({ batches: [batch()], admin: null, now: 0, refreshSeconds: 10 });
    expect(withAdmin).toContain('id="pools"');
    expect(withAdmin).toContain('data-circuit="open"');
    expect(without).not.toMatch(/id="(pools|providers)"/);
    expect(without).toContain('id="admin-note"');
  });

  it('refresh an open batch’s page, and stop once the batch has finished', () => {
    const render = (b: BatchView) =>
      renderBatchPage({ batch: b, items: [], offset: 0, limit: 200, now: 0, refreshSeconds: 7 });
    expect(render(batch({ finishedAt: null, status: 'running' }))).toContain('http-equiv="refresh" content="7"');
    expect(render(batch())).not.toContain('http-equiv="refresh"');
  });
});

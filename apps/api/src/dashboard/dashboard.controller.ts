import { Controller, Get, Header, Inject, Param, Query, UseFilters } from '@nestjs/common';
import { allows, tenantScope, type Caller } from '#libs/access';
import { BatchStore, cursorAfter } from '#libs/batches';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { CircuitRegistry, PoolRegistry, ProviderDirectory } from '#libs/pools';
import { CurrentCaller, RequiresScope } from '../access-decorators.js';
import { listCursor, visibleBatch } from '../batches.controller.js';
import { ApiDoc } from '../openapi/api-doc.decorator.js';
import { boundedInt } from '../query-params.js';
import {
  renderBatchPage,
  renderOverviewPage,
  type AdminPanels,
  type PoolPanelRow,
  type ProviderPanelRow,
} from './dashboard-pages.js';
import { DashboardErrorsFilter } from './dashboard-errors.filter.js';

/** How often an open page reloads itself (a meta refresh: the pages run no script). */
const REFRESH_SECONDS = 10;

/**
 * The batches dashboard (issue 15 §6): server-rendered pages with inline SVG charts, nothing loaded from
 * elsewhere. Read scope sees its tenant's batches (admin: all); pools and providers need admin and are left
 * out, with a note, for other keys. A browser sends the key as the Basic password (browserKeyAuth).
 */
@Controller('dashboard')
@RequiresScope('read')
@UseFilters(new DashboardErrorsFilter(REFRESH_SECONDS))
export class DashboardController {
  constructor(
    @Inject(BatchStore) private readonly store: BatchStore,
    @Inject(PoolRegistry) private readonly pools: PoolRegistry,
    @Inject(ProviderDirectory) private readonly directory: ProviderDirectory,
    @Inject(CircuitRegistry) private readonly circuits: CircuitRegistry,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @ApiDoc({
    summary: 'Dashboard: recent batches, and pools and providers for admin keys',
    description: 'An HTML page with inline SVG charts and no script; a browser sends the key as a Basic password.',
    query: {
      limit: { description: 'Batches shown', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
      before: {
        description:
          'Where the page starts: the older-batches link of the page before (as `before` of GET /v1/batches)',
        schema: { type: 'string' },
      },
    },
    answer: { description: 'HTML', text: 'text/html' },
    errors: { 400: 'limit or before is not what it takes (`field`)' },
  })
  @Get()
  // Its Content-Security-Policy (no script runs, nothing loads), no-store and the rest: pageHeaders (api-app.ts).
  @Header('Content-Type', 'text/html; charset=utf-8')
  async overview(
    @CurrentCaller() caller: Caller | null,
    @Query('limit') limit?: string,
    @Query('before') before?: string,
  ): Promise<string> {
    const shown = boundedInt('limit', limit, 50, 1, 500);
    const batches = await this.store.list(shown, listCursor(before), tenantScope(caller));
    const admin = caller === null || allows(caller.scopes, 'admin') ? await this.adminPanels() : null;
    // A full page may have older batches behind it; a shorter one is the last.
    const older = batches.length === shown ? cursorAfter(batches[batches.length - 1]) : null;
    return renderOverviewPage({
      batches,
      admin,
      now: Date.now(),
      refreshSeconds: REFRESH_SECONDS,
      pages: { limit: shown, older, isFirst: before === undefined },
    });
  }

  @ApiDoc({
    summary: 'Dashboard: one batch, with the timeline of its items',
    description: 'An HTML page; items are shown a page at a time (ids, routes, times: never their text).',
    query: {
      offset: { description: 'Index of the first item', schema: { type: 'integer', minimum: 0, default: 0 } },
      limit: { description: 'Items shown', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 200 } },
    },
    answer: { description: 'HTML', text: 'text/html' },
    errors: { 400: 'offset or limit is out of bounds (`field`)', 404: 'No such batch (or another tenant’s)' },
  })
  @Get('batches/:id')
  @Header('Content-Type', 'text/html; charset=utf-8')
  async batch(
    @Param('id') id: string,
    @CurrentCaller() caller: Caller | null,
    @Query('offset') offset?: string,
    @Query('limit') limit?: string,
  ): Promise<string> {
    const batch = await visibleBatch(this.store, id, caller);
    const from = boundedInt('offset', offset, 0, 0, Number.MAX_SAFE_INTEGER);
    const size = boundedInt('limit', limit, 200, 1, 1000);
    const items = await this.store.items(id, from, size);
    return renderBatchPage({
      batch,
      items,
      offset: from,
      limit: size,
      now: Date.now(),
      refreshSeconds: REFRESH_SECONDS,
    });
  }

  /** What GET /v1/pools and /v1/providers say, reduced to what the panels draw. */
  private async adminPanels(): Promise<AdminPanels> {
    const now = Date.now();
    const live = (await this.pools.live(now)).filter((p) => p.status !== 'loading' && p.status !== 'restarting');
    const pools: PoolPanelRow[] = await Promise.all(
      live.map(async (p) => ({
        id: p.id,
        target: p.target,
        provider: p.provider,
        model: p.model,
        device: p.device,
        status: p.status,
        sequences: { max: p.sequences, active: p.activeSequences, busy: p.busy },
        tokensPerSec: await this.pools.throughput(p.target, p.provider),
      })),
    );
    const state = await this.directory.routingState(now);
    const providers: ProviderPanelRow[] = await Promise.all(
      state.providers.map(async (p) => {
        const cloud = p.target === 'cloud' ? this.config.cloudProviders.find((c) => c.name === p.name) : undefined;
        const circuit = cloud ? await this.circuits.get(p.name, now) : null;
        const fit = cloud ? await this.directory.latencyFit(p.name) : null;
        return {
          name: p.name,
          target: p.target,
          model: p.model,
          available: p.available !== false,
          circuit: circuit && { state: circuit.state, failures: circuit.failures },
          latencyMs: Math.round(p.latencyMs),
          tokensPerSec: p.tokensPerSec,
          fit: fit && { latencyMs: Math.round(fit.latencyMs), tokensPerSec: fit.tokensPerSec, calls: fit.samples },
          backlogTokens: p.backlogTokens,
          limits: cloud ? { requestsPerMinute: cloud.requestsPerMinute, tokensPerMinute: cloud.tokensPerMinute } : null,
        };
      }),
    );
    return { pools, providers };
  }
}

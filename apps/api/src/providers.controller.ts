import { Controller, Get, Inject } from '@nestjs/common';
import { APP_CONFIG } from '#libs/config';
import type { AppConfig } from '#libs/config';
import { CircuitRegistry } from '#libs/pools';
import { ProviderDirectory } from '#libs/pools';
import { ProviderCapabilities } from '#libs/pools';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/** Every provider as the router sees it now (clearance, prices, measured speed, backlog, circuit, quotas), and the learned token estimates. */
// Declares no scope: admin by default (ApiKeyGuard).
@Controller('v1/providers')
export class ProvidersController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(ProviderDirectory) private readonly directory: ProviderDirectory,
    @Inject(CircuitRegistry) private readonly circuits: CircuitRegistry,
    @Inject(ProviderCapabilities) private readonly capabilities: ProviderCapabilities,
  ) {}

  private async measured(provider: string) {
    const fit = await this.directory.latencyFit(provider);
    return (
      fit && {
        latencyMs: Math.round(fit.latencyMs),
        tokensPerSec: fit.tokensPerSec === null ? null : Math.round(fit.tokensPerSec * 100) / 100,
        calls: fit.samples,
      }
    );
  }

  @ApiDoc({
    summary: 'Every provider as the router sees it, and the learned token estimates',
    answer: { description: 'Providers', json: 'ProviderList' },
  })
  @Get()
  async list() {
    const state = await this.directory.routingState();
    const providers = await Promise.all(
      state.providers.map(async (p) => {
        const cloud = this.config.cloudProviders.find((c) => p.target === 'cloud' && c.name === p.name);
        return {
          name: p.name,
          target: p.target,
          model: p.model,
          clearance: p.clearance,
          // Cloud: the declared provider and which of its tiers this route is (standard, flex, batch; issue 16 §3).
          provider: cloud ? cloud.provider : null,
          tier: cloud ? cloud.tier : null,
          // Cloud: the operator's declaration that the endpoint runs on premises (required for restricted); an engine
          // pool (ENGINE_POOLS) declares it on every entry.
          onPremises: cloud ? cloud.onPremises : this.config.enginePools.some((e) => e.name === p.name) ? true : null,
          available: p.available !== false,
          price: p.price,
          tokensPerSec: Math.round(p.tokensPerSec * 100) / 100,
          concurrency: p.concurrency,
          latencyMs: Math.round(p.latencyMs),
          // Tokens one call holds: what a long item's calls there are estimated by.
          contextTokens: p.contextTokens ?? null,
          // Cloud: whether latency (and speed, where calls of different sizes tell it) come from measured calls.
          measured: cloud ? await this.measured(p.name) : null,
          backlogTokens: Math.round(p.backlogTokens),
          circuit: cloud ? await this.circuits.get(p.name) : null,
          limits: cloud ? { requestsPerMinute: cloud.requestsPerMinute, tokensPerMinute: cloud.tokensPerMinute } : null,
          // What it was found unable to do (refused for several items), when that was learned and until when.
          unable: cloud
            ? (await this.capabilities.lacks(p.name)).map((l) => ({
                ...l,
                learnedAt: new Date(l.learnedAt).toISOString(),
                expiresAt: new Date(l.expiresAt).toISOString(),
              }))
            : [],
        };
      }),
    );
    // Input and output token corrections per task kind, learned from completed items (TokenCalibration).
    return { providers, tokenEstimates: (await this.directory.calibration()).describe() };
  }
}

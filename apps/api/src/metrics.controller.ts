import { Controller, Get, Header } from '@nestjs/common';
import { METRICS_CONTENT_TYPE, metricsText } from '#libs/metrics';
import { RequiresScope, Unmetered } from './access-decorators.js';
import { ApiDoc } from './openapi/api-doc.decorator.js';

/**
 * GET /metrics in Prometheus text format, on the API's own port, for a key with the `metrics` scope (or
 * `admin`; open like every route when no key exists). The API's port is the one clients reach: what it
 * serves here — providers, spend, traffic — is for operators, and a scope lets Prometheus hold a key
 * that can do nothing else (docs/operations.md, "Metrics"). Scrapes do not count against the key's rate limit.
 */
@Controller()
export class MetricsController {
  @Get('metrics')
  @RequiresScope('metrics')
  // Scraped through a Redis outage too: a rate limit read from Redis made every scrape a 503 then.
  @Unmetered()
  @Header('content-type', METRICS_CONTENT_TYPE)
  @ApiDoc({
    summary: 'Prometheus metrics of this API process and of the shared state it reads',
    answer: { description: 'Prometheus text exposition format (docs/operations.md, Metrics)', text: 'text/plain' },
  })
  async scrape(): Promise<string> {
    return metricsText();
  }
}

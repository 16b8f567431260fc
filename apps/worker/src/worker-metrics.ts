import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '#libs/config';
import { APP_CONFIG } from '#libs/config';
import { startMetricsServer, type MetricsServer } from '#libs/metrics';

/**
 * The worker's Prometheus endpoint: it has no HTTP server, so a small one serves GET /metrics on METRICS_PORT
 * (off when unset; METRICS_PORT=0 picks a free port, logged) at METRICS_HOST (loopback by default). It starts
 * beside the pools (not after their models load), so a scrape can watch a slow start.
 */
@Injectable()
export class WorkerMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('metrics');
  private server?: MetricsServer;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async onApplicationBootstrap(): Promise<void> {
    const { host, port } = this.config.metrics;
    if (port === null) return;
    this.server = await startMetricsServer(host, port);
    this.log.log({ msg: 'metrics listening', url: this.server.url });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }
}

import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's one metrics registry. Module-level, like prom-client's own default: call sites record with
 * one line (`metrics.itemRan(…)`) and need no constructor parameter, so the domain code's dependencies stay
 * what they were; a spec that asserts on metrics calls `resetMetrics()` first (jest gives each spec file its
 * own module instance, so files never see each other's counts).
 */
export const metricsRegistry = new Registry();

/** Work run before each scrape to refresh gauges read from elsewhere (Redis state), and what undoes them. */
interface Refresher {
  refresh: () => Promise<void> | void;
  /** The refresh failed or is late: its gauges go, rather than repeat values nobody could read. */
  unknown?: () => void;
}

const refreshers = new Set<Refresher>();

/**
 * Runs `refresh` before every scrape until the returned function is called. `unknown` is called when it fails or is
 * late (REFRESH_TIMEOUT_MS): it drops the gauges `refresh` sets, so a scrape never reports as current what it could
 * not read (Prometheus's rule for exporters). Kept, they hid a Redis outage: the pools read consuming, the queues
 * their depth of before, and SwitchyardNoPoolConsuming, whose description names an unreachable Redis, never fired.
 */
export function onScrape(refresh: () => Promise<void> | void, unknown?: () => void): () => void {
  const refresher = { refresh, unknown };
  refreshers.add(refresher);
  return () => void refreshers.delete(refresher);
}

/**
 * How long a scrape waits for a refresher. Reads from Redis wait for it to come back (ioredis queues them while it
 * reconnects), so during an outage a refresh never ended and neither did the scrape: the API's own metrics went
 * missing exactly when they were wanted. Well inside Prometheus's default scrape timeout (10 s).
 */
export const REFRESH_TIMEOUT_MS = 2_000;

/**
 * The registry in Prometheus text format, gauges refreshed first. A refresher that fails, or has not finished
 * within REFRESH_TIMEOUT_MS, has its gauges dropped (its `unknown`) and is counted
 * (switchyard_metrics_refresh_failures_total): a scrape never fails or hangs for it.
 */
export async function metricsText(timeoutMs = REFRESH_TIMEOUT_MS): Promise<string> {
  await Promise.all(
    [...refreshers].map(async ({ refresh, unknown }) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
      const failed = await Promise.race([Promise.resolve().then(refresh), late]).then(
        (ended) => ended === 'late',
        () => true,
      );
      clearTimeout(timer);
      if (!failed) return;
      refreshFailures.inc();
      unknown?.();
    }),
  );
  return metricsRegistry.metrics();
}

const refreshFailures = new Counter({
  name: 'switchyard_metrics_refresh_failures_total',
  help: 'Scrapes whose gauges read from Redis could not be refreshed (they were left out of the scrape).',
  registers: [metricsRegistry],
});

/** `text/plain; version=0.0.4; charset=utf-8` */
export const METRICS_CONTENT_TYPE = metricsRegistry.contentType;

let processMetrics = false;

/** Node's own metrics (CPU, memory, event loop lag, GC) with the `switchyard_` ones; once per process, from main. */
export function enableProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: metricsRegistry });
}

/** Tests: every switchyard metric back to zero. */
export function resetMetrics(): void {
  metricsRegistry.resetMetrics();
}

// The face of libs/metrics: what other libs, the apps and the tests use. Import it as '#libs/metrics'.
export { startMetricsServer, type MetricsServer } from './metrics-server.js';
export {
  METRICS_CONTENT_TYPE,
  enableProcessMetrics,
  metricsRegistry,
  metricsText,
  onScrape,
  resetMetrics,
} from './metrics-registry.js';
export {
  CIRCUIT_STATES,
  SwitchyardMetrics,
  metrics,
  type EscalationReason,
  type ItemRun,
  type PoolSample,
  type ProviderLabels,
  type RouteLabels,
  type SystemState,
} from './switchyard-metrics.js';

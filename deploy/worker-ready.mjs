// The worker's readiness probe (deploy/k8s/base/worker.yaml): ready once every pool this worker runs consumes, read
// from its own GET /metrics on METRICS_PORT (switchyard_pool_status). A worker has no other HTTP server, and without
// a probe Kubernetes counts it ready as soon as it starts: a rollout then replaced every worker while their models
// were still loading, and no pool consumed until the loads were done (SwitchyardNoPoolConsuming, critical).
// A pool still loading its model, one whose model does not fit or failed, or an engine that does not answer, keeps
// the worker not ready; so does a worker whose metrics do not answer.
const port = process.env.METRICS_PORT;
if (!port) {
  process.stderr.write('METRICS_PORT is not set: the readiness probe reads the worker’s /metrics\n');
  process.exit(1);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  const statuses = [...text.matchAll(/^switchyard_pool_status\{([^}]*)\} 1$/gm)].map(
    (m) => /(?:^|,)status="([^"]*)"/.exec(m[1])?.[1] ?? '',
  );
  const waiting = statuses.filter((s) => s !== 'consuming');
  if (res.ok && statuses.length > 0 && waiting.length === 0) process.exit(0);
  process.stderr.write(`not ready: ${statuses.length === 0 ? 'no pool yet' : `pools ${waiting.join(', ')}`}\n`);
  process.exit(1);
} catch (err) {
  process.stderr.write(`not ready: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

// The image's HEALTHCHECK. The API answers /health on its port (no Redis needed: liveness, not readiness).
// The worker has no HTTP server: it is alive while its process runs, and a worker that cannot reach Redis
// must not be restarted for it (it reconnects by itself), so there is nothing more to ask it here.
const role = process.env.SWITCHYARD_ROLE ?? 'api';
if (role !== 'api') process.exit(0);
const port = process.env.PORT ?? '3000';
try {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}

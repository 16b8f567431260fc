// The image's HEALTHCHECK. The API answers /health on its port (no Redis needed: liveness, not readiness).
// The worker has no HTTP server: it is alive while its process runs, and a worker that cannot reach Redis
// must not be restarted for it (it reconnects by itself), so there is nothing more to ask it here.
// The role is the one the container runs: the entrypoint takes it from SWITCHYARD_ROLE or from the command
// (`docker run switchyard:cpu worker`), and a HEALTHCHECK sees only the image's environment, so it reads what
// process 1 runs (HEALTHCHECK_CMDLINE: another file to read it from, for tests).
import { readFileSync } from 'node:fs';

function role() {
  try {
    const cmdline = readFileSync(process.env.HEALTHCHECK_CMDLINE ?? '/proc/1/cmdline', 'utf8');
    const app = /dist\/apps\/(\w+)\/src\//.exec(cmdline)?.[1];
    if (app) return app;
  } catch {
    // Not Linux, or no /proc: the environment decides.
  }
  return process.env.SWITCHYARD_ROLE ?? 'api';
}

if (role() !== 'api') process.exit(0);
const port = process.env.PORT ?? '3000';
try {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}

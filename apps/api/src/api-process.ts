// The api process itself, imported by main.ts once tracing (if configured) has started.
import { Logger, type INestApplication } from '@nestjs/common';
import { loadConfig, loadLogConfig, type AppConfig } from '#libs/config';
import { ApiKeyAuthenticator } from '#libs/access';
import { listenPlan } from '#libs/access';
import { ProcessStop } from '#libs/lifecycle';
import { failStartup, routeConsoleToJson } from '#libs/logging';
import { enableProcessMetrics } from '#libs/metrics';
import { assertRedisReachable, redisStartUpDone } from '#libs/redis';
import { createApiApp } from './api-app.js';

try {
  // Unless it is read on a terminal (LOG_FORMAT), every line this process writes is JSON, start-up failures included.
  if (loadLogConfig().format === 'json') routeConsoleToJson('api');
  const config = loadConfig();
  // SIGTERM/SIGINT, from here on: start nothing more, close what started, exit within SHUTDOWN_TIMEOUT_MS whatever
  // Redis does (issue 12 §5). It stands in for Nest's shutdown hooks, which listen only once the app exists.
  const stop = ProcessStop.listen('api', config.shutdownTimeoutMs);
  enableProcessMetrics();
  // Redis first, alone: unreachable (or misconfigured), start-up ends in one line naming the variable.
  await assertRedisReachable(config.redis.topology);
  const app = await createApiApp(config);
  await serve(app, config, stop.signal);
  // A stop asked for during start-up closes the app now (it never listened if it came before the listen).
  stop.closes(app);
} catch (err) {
  failStartup('api', err);
}

/** Start-up after the app is built: each step only if no stop was asked for meanwhile. */
async function serve(app: INestApplication, config: AppConfig, stopping: AbortSignal): Promise<void> {
  if (stopping.aborted) return;
  const log = new Logger('api');
  // Decided once, before listening: an open API (no key anywhere) stays on loopback whatever HOST says.
  const plan = listenPlan(config.http.host, await app.get(ApiKeyAuthenticator).isSecured());
  if (plan.warning) log.warn({ msg: plan.warning, auth: 'open', host: plan.host });
  // The modules' init hooks first: a stop during them leaves the port unbound.
  if (stopping.aborted) return;
  await app.init();
  if (stopping.aborted) return;
  await app.listen(config.http.port, plan.host);
  redisStartUpDone(app);
  log.log({
    msg: 'api listening',
    url: await app.getUrl(),
    auth: plan.open ? 'open (loopback only)' : 'api keys required',
    cloudProviders: config.cloudProviders.map(
      (p) => `${p.name} (cleared to ${p.clearance}${p.onPremises ? ', declared on premises' : ''})`,
    ),
  });
}

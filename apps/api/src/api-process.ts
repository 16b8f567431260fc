// The api process itself, imported by main.ts once tracing (if configured) has started.
import { Logger } from '@nestjs/common';
import { loadConfig, loadLogConfig } from '#libs/config';
import { ApiKeyAuthenticator } from '#libs/access';
import { listenPlan } from '#libs/access';
import { armShutdownDeadline } from '#libs/lifecycle';
import { failStartup, routeConsoleToJson } from '#libs/logging';
import { enableProcessMetrics } from '#libs/metrics';
import { assertRedisReachable } from '#libs/redis';
import { createApiApp } from './api-app.js';

try {
  // Unless it is read on a terminal (LOG_FORMAT), every line this process writes is JSON, start-up failures included.
  if (loadLogConfig().format === 'json') routeConsoleToJson('api');
  const config = loadConfig();
  // SIGTERM/SIGINT: exit within SHUTDOWN_TIMEOUT_MS whatever Redis does (issue 12 §5).
  armShutdownDeadline('api', config.shutdownTimeoutMs);
  enableProcessMetrics();
  // Redis first, alone: unreachable (or misconfigured), start-up ends in one line naming the variable.
  await assertRedisReachable(config.redis.topology);
  const app = await createApiApp(config);
  const log = new Logger('api');
  // Decided once, before listening: an open API (no key anywhere) stays on loopback whatever HOST says.
  const plan = listenPlan(config.http.host, await app.get(ApiKeyAuthenticator).isSecured());
  if (plan.warning) log.warn({ msg: plan.warning, auth: 'open', host: plan.host });
  await app.listen(config.http.port, plan.host);
  log.log({
    msg: 'api listening',
    url: await app.getUrl(),
    auth: plan.open ? 'open (loopback only)' : 'api keys required',
    cloudProviders: config.cloudProviders.map(
      (p) => `${p.name} (cleared to ${p.clearance}${p.onPremises ? ', declared on premises' : ''})`,
    ),
  });
} catch (err) {
  failStartup('api', err);
}

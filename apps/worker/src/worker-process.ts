// The worker process itself, imported by main.ts once tracing (if configured) has started.
import { NestFactory } from '@nestjs/core';
import { loadConfig, loadLogConfig } from '#libs/config';
import { ProcessStop } from '#libs/lifecycle';
import { failStartup, processLogger, routeConsoleToJson } from '#libs/logging';
import { enableProcessMetrics } from '#libs/metrics';
import { assertRedisReachable, redisStartUpDone } from '#libs/redis';
import { WorkerModule } from './worker.module.js';

try {
  // Unless it is read on a terminal (LOG_FORMAT), every line this process writes is JSON: node-llama-cpp's own
  // log and start-up failures included.
  if (loadLogConfig().format === 'json') routeConsoleToJson('worker');
  const config = loadConfig();
  // SIGTERM/SIGINT, from here on: start nothing more, close what started, exit within SHUTDOWN_TIMEOUT_MS whatever
  // Redis does (issue 12 §5). It stands in for Nest's shutdown hooks, which listen only once the app has started.
  const stop = ProcessStop.listen('worker', config.shutdownTimeoutMs);
  enableProcessMetrics();
  // Redis first, alone: unreachable (or misconfigured), start-up ends in one line naming the variable.
  await assertRedisReachable(config.redis.topology);
  const logger = processLogger('worker', config.log);
  // Start-up (the models loaded, the pools started) runs within createApplicationContext; WorkerLifecycle reads
  // stop.signal between its steps.
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, stop.signal), { logger });
  redisStartUpDone(app);
  stop.closes(app);
} catch (err) {
  failStartup('worker', err);
}

import 'reflect-metadata';
import { ConsoleLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '#libs/config';
import { armShutdownDeadline } from '#libs/lifecycle';
import { exitOnFatalErrors, failStartup, routeConsoleToJson } from '#libs/logging';
import { enableProcessMetrics } from '#libs/metrics';
import { WorkerModule } from './worker.module.js';

// Every line this process writes is JSON: node-llama-cpp's own log and start-up failures included.
routeConsoleToJson('worker');
exitOnFatalErrors('worker');
try {
  const config = loadConfig();
  // SIGTERM/SIGINT: exit within SHUTDOWN_TIMEOUT_MS whatever Redis does (issue 12 §5).
  armShutdownDeadline('worker', config.shutdownTimeoutMs);
  enableProcessMetrics();
  const logger = new ConsoleLogger({ json: true });
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), { logger });
  app.enableShutdownHooks();
  await app.init();
} catch (err) {
  failStartup('worker', err);
}

import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfig } from '#libs/config/src/app-config.js';
import { exitOnFatalErrors, failStartup, routeConsoleToJson } from '#libs/logging/src/json-console.js';
import { createApiApp } from './api-app.js';

// Every line this process writes is JSON, start-up failures included.
routeConsoleToJson('api');
exitOnFatalErrors('api');
try {
  const config = loadConfig();
  const app = await createApiApp(config);
  await app.listen(config.http.port, config.http.host);
  new Logger('api').log({ msg: 'api listening', url: await app.getUrl(), cloudProviders: config.cloudProviders.map((p) => `${p.name} (cleared to ${p.clearance})`) });
} catch (err) {
  failStartup('api', err);
}

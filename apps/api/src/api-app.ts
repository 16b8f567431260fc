import { ConsoleLogger, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AppConfig } from '#libs/config/src/app-config.js';
import { ApiKeyAuthenticator } from '#libs/access/src/api-key-authenticator.js';
import { adminBoardAuth } from './admin-board-auth.js';
import { ApiModule } from './api.module.js';
import { HttpErrorsFilter } from './http-errors.filter.js';

/** Builds the API application (used by main.ts and by in-process tests). */
export async function createApiApp(config: AppConfig, logger: LoggerService | false = new ConsoleLogger({ json: true })): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), { bodyParser: false, logger });
  app.use(express.json({ limit: config.http.maxBodyBytes }));
  app.use(bodyErrors(config.http.maxBodyBytes));
  // Registered before init, so it runs ahead of the Bull Board router the module mounts at /admin/queues.
  app.use('/admin/queues', adminBoardAuth(app.get(ApiKeyAuthenticator)));
  app.useGlobalFilters(new HttpErrorsFilter());
  app.enableShutdownHooks();
  return app;
}

/** Body-parser failures answered as JSON 4xx naming the body, instead of Express's HTML page. */
function bodyErrors(limit: number) {
  return (err: { type?: string; status?: number; message?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (err.type === 'entity.too.large') {
      res.status(413).json({ statusCode: 413, error: 'Payload Too Large', field: 'body', message: `body exceeds the limit of ${limit} bytes` });
    } else if (err.type === 'entity.parse.failed') {
      res.status(400).json({ statusCode: 400, error: 'Bad Request', field: 'body', message: 'body is not valid JSON' });
    } else if (err.status && err.status >= 400 && err.status < 500) {
      res.status(err.status).json({ statusCode: err.status, field: 'body', message: err.type ?? 'invalid body' });
    } else {
      next(err);
    }
  };
}

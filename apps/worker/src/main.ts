import 'reflect-metadata';
import { ConsoleLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from '#libs/config/src/app-config.js';
import { WorkerModule } from './worker.module.js';

const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(loadConfig()), { logger: new ConsoleLogger({ json: true }) });
app.enableShutdownHooks();
await app.init();

import { Controller, Get, Header, Inject, type Type } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Public } from '../access-decorators.js';
import { ApiDoc } from './api-doc.decorator.js';
import { answerSchemas, requestSchemas } from './api-schemas.js';
import { renderDocsPage } from './docs-page.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi-document.js';
import { servedRoutes } from './nest-routes.js';

/** Mounted by BullBoardModule and gated by browserKeyAuth (api-app.ts), outside Nest's router. */
const BULL_BOARD = {
  path: '/admin/queues',
  summary: 'Bull Board: every queue and its jobs',
  description: 'A web page (and the JSON calls it makes under this path); a browser sends the key as a Basic password.',
  requirement: 'admin' as const,
};

/**
 * The API described by itself (issue 15 §4): routes from the controllers Nest registered, request schemas from
 * the zod schemas intake validates with, this deployment's limits in them. Public, like a probe: it says what
 * the API takes, nothing about any tenant, and code generators fetch it without a key.
 */
@Controller()
@Public()
export class OpenApiController {
  private document: OpenApiDocument | undefined;

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('openapi.json')
  @ApiDoc({ summary: 'This document', answer: { description: 'OpenAPI 3.1', json: 'OpenApiDocument' } })
  openApi(): OpenApiDocument {
    return this.built();
  }

  @Get('docs')
  // Nothing on the page runs or loads: its Content-Security-Policy is pageHeaders' (api-app.ts).
  @Header('Content-Type', 'text/html; charset=utf-8')
  @ApiDoc({ summary: 'This document as a page', answer: { description: 'HTML, no script', text: 'text/html' } })
  docs(): string {
    return renderDocsPage(this.built());
  }

  /** Built on first use: the routes and the config do not change while the process runs. */
  private built(): OpenApiDocument {
    if (this.document) return this.document;
    const controllers = this.discovery
      .getControllers()
      .map((wrapper) => wrapper.metatype)
      .filter((type): type is Type => typeof type === 'function');
    const c = this.config;
    const schemas = {
      ...answerSchemas(),
      ...requestSchemas({
        submission: {
          maxItems: c.http.maxItems,
          maxItemBytes: c.http.maxItemBytes,
          maxOutputTokens: c.maxOutputTokens,
          localModels: c.localModels.map((m) => m.name),
        },
        schedules: { minIntervalMs: c.schedules.minIntervalMs },
        openAIMaxLines: c.openai.maxLines,
      }),
    };
    this.document = buildOpenApiDocument({
      routes: servedRoutes(controllers),
      schemas,
      version: 'v1',
      mounts: [BULL_BOARD],
    });
    return this.document;
  }
}

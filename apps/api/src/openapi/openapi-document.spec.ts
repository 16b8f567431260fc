import 'reflect-metadata';
import { describe, expect, it } from '@jest/globals';
import { Controller, Get, HttpCode, Post, Query, Body, type Type } from '@nestjs/common';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BATCH_KINDS } from '#libs/domain';
import { ApiDoc } from './api-doc.decorator.js';
import { answerSchemas, requestSchemas } from './api-schemas.js';
import { buildOpenApiDocument } from './openapi-document.js';
import { openApiPath, servedRoutes } from './nest-routes.js';

const API_SRC = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemas = {
  ...answerSchemas(),
  ...requestSchemas({
    submission: { maxItems: 10, maxOutputTokens: 512, localModels: ['tiny'] },
    schedules: { minIntervalMs: 60_000 },
    openAIMaxLines: 50_000,
  }),
};
const build = (controllers: Type[]) =>
  buildOpenApiDocument({ routes: servedRoutes(controllers), schemas, version: 'v1' });

/**
 * Every controller class in apps/api/src, found by its files rather than listed here (ApiModule itself cannot
 * load under jest: @bull-board/nestjs requires ESM). The e2e spec checks the running app's own routes.
 */
async function apiControllers(): Promise<Type[]> {
  const files = readdirSync(API_SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.controller.ts'));
  const modules: Array<Record<string, unknown>> = [];
  // One at a time: jest's ESM loader fails on concurrent imports sharing a dependency.
  for (const f of files) modules.push((await import(join(API_SRC, f))) as Record<string, unknown>);
  return modules
    .flatMap((m) => Object.values(m))
    .filter((v): v is Type => typeof v === 'function' && Reflect.getMetadata('__controller__', v) === true);
}

describe('the OpenAPI document', () => {
  it('describes every route of every controller the API has, with its scope', async () => {
    const controllers = await apiControllers();
    const routes = servedRoutes(controllers);
    const doc = build(controllers);
    expect(routes.length).toBeGreaterThan(20);
    for (const route of routes) {
      const op = doc.paths[openApiPath(route.path).path]?.[route.method];
      expect(op?.['x-required-scope']).toBe(route.requirement);
      expect(op?.responses[String(route.successStatus)]).toBeDefined();
    }
    expect(doc.paths['/v1/batches']?.post?.security).toEqual([{ apiKey: ['submit'] }]);
    expect(doc.paths['/health']?.get?.security).toEqual([]);
    expect(doc.paths['/v1/keys']?.get?.security).toEqual([{ apiKey: ['admin'] }]);
  });

  it('says every route that reads the store may answer 503 with Retry-After while Redis is out of reach', async () => {
    const doc = build(await apiControllers());
    for (const [path, method] of [
      ['/v1/batches', 'post'],
      ['/v1/batches', 'get'],
      ['/openai/v1/batches', 'post'],
    ] as const) {
      const answer = doc.paths[path]?.[method]?.responses['503'];
      expect(answer?.description).toMatch(/Redis cannot be reached/);
      expect(answer?.headers?.['Retry-After']).toBeDefined();
    }
    // The OpenAI create's own 503 (replicas) is still named beside it; a probe keeps its not-ready body.
    expect(doc.paths['/openai/v1/batches']?.post?.responses['503']?.description).toMatch(/REDIS_WAIT_REPLICAS/);
    expect(doc.paths['/ready']?.get?.responses['503']?.description).not.toMatch(/Retry-After/);
  });

  it('says where an accepted batch is: POST /v1/batches answers 202 with Location', async () => {
    const answer = build(await apiControllers()).paths['/v1/batches']?.post?.responses['202'];
    expect(answer?.headers?.Location).toBeDefined();
  });

  it('describes the OpenAI surface in OpenAI’s terms: its error body on every error, 200 answers, a multipart upload', async () => {
    const doc = build(await apiControllers());
    const openai = Object.entries(doc.paths).filter(([path]) => path.startsWith('/openai/v1/'));
    expect(openai.flatMap(([, methods]) => Object.keys(methods))).toHaveLength(9);
    for (const [path, methods] of openai) {
      for (const op of Object.values(methods)) {
        const answers = Object.entries(op.responses);
        expect({ path, success: answers.filter(([code]) => code.startsWith('2')).map(([code]) => code) }).toEqual({
          path,
          success: ['200'],
        });
        for (const [code, answer] of answers.filter(([c]) => !c.startsWith('2')))
          expect({ path, code, schema: answer.content?.['application/json']?.schema }).toEqual({
            path,
            code,
            schema: { $ref: '#/components/schemas/OpenAIError' },
          });
      }
    }
    expect(doc.paths['/openai/v1/files']?.post?.requestBody?.content).toEqual({
      'multipart/form-data': { schema: { $ref: '#/components/schemas/OpenAIFileUpload' } },
    });
    expect(Object.keys(doc.paths['/openai/v1/files/{id}/content']?.get?.responses['200']?.content ?? {})).toEqual([
      'application/jsonl',
    ]);
    expect(doc.paths['/openai/v1/batches']?.get?.parameters?.map((p) => p.name)).toEqual(['after', 'limit']);
    // The native routes keep their own error body.
    expect(doc.paths['/v1/batches']?.post?.responses['400']?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
  });

  it('takes the batch body from the zod schema intake validates with: one strict variant per kind, this deployment’s item limit', () => {
    const body = schemas.BatchSubmission as { oneOf: Array<{ additionalProperties: unknown; properties: any }> };
    expect(body.oneOf).toHaveLength(BATCH_KINDS.length);
    for (const variant of body.oneOf) {
      expect(variant.additionalProperties).toBe(false);
      expect(variant.properties.items.maxItems).toBe(10);
    }
  });

  it('refuses a handler without @ApiDoc, naming it', () => {
    @Controller('x')
    class Undocumented {
      @Get()
      list() {
        return [];
      }
    }
    expect(() => build([Undocumented])).toThrow('Undocumented.list (GET /x) has no @ApiDoc');
  });

  it('refuses a query parameter the handler reads but the description omits, and one it describes but never reads', () => {
    @Controller('x')
    class Reads {
      @Get()
      @ApiDoc({ summary: 's', answer: { description: 'd', json: 'Health' } })
      list(@Query('limit') limit?: string) {
        return limit;
      }
    }
    expect(() => build([Reads])).toThrow('Reads.list reads query parameter limit that @ApiDoc omits');
    @Controller('x')
    class Describes {
      @Get()
      @ApiDoc({ summary: 's', query: { limit: { description: 'd', schema: {} } }, answer: { description: 'd' } })
      list() {
        return [];
      }
    }
    expect(() => build([Describes])).toThrow('@ApiDoc describes query parameter limit it does not read');
  });

  it('refuses a body the description does not name, and a 202 without Location', () => {
    @Controller('x')
    class Body1 {
      @Post()
      @ApiDoc({ summary: 's', answer: { description: 'd' } })
      create(@Body() body: unknown) {
        return body;
      }
    }
    expect(() => build([Body1])).toThrow('Body1.create: reads a body @ApiDoc does not name');
    @Controller('x')
    class Accepts {
      @Post()
      @HttpCode(202)
      @ApiDoc({ summary: 's', body: 'NewKey', answer: { description: 'd' } })
      create(@Body() body: unknown) {
        return body;
      }
    }
    expect(() => build([Accepts])).toThrow('a 202 answer must say where');
  });
});

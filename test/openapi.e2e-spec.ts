import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { chatCompletionOf } from '#libs/batches';
import { fetchJson } from './support/fetch-json.js';
import type { ApiClient } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

const ADMIN_KEY = 'e2e-openapi-admin-secret-0123456789';
const ROOT = process.cwd();

/** A request body in the docs: `curl … <path> … -d '<json>'` inside a shell block. */
interface DocExample {
  file: string;
  method: string;
  path: string;
  body: unknown;
}

/** Every curl with a JSON body in README.md and docs/*.md, with the method and path it calls. */
function docExamples(): DocExample[] {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  return files.flatMap((file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
    return blocks.flatMap((block) =>
      [...block.matchAll(/curl\b((?:(?!curl\b)[^])*?)-d '([^']*)'/g)].map(([, args, json]) => {
        const url = /(?:localhost|127\.0\.0\.1):\d+(\/[^\s'"]*)/.exec(args);
        if (!url) throw new Error(`${file}: a curl example without a URL: ${args}`);
        return { file, method: /-X\s*([A-Z]+)/.exec(args)?.[1] ?? 'POST', path: url[1], body: JSON.parse(json) };
      }),
    );
  });
}

/** `/v1/schedules/nightly` against the document's templates (`/v1/schedules/{name}`). */
function templateFor(paths: string[], path: string): string | undefined {
  return paths.find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
}

describe('the API describes itself: /openapi.json and /docs', () => {
  const sys = useSystem({ ADMIN_API_KEY: ADMIN_KEY, SCHEDULE_MIN_INTERVAL_MS: '1000' }, { workers: 0 });
  let admin: ApiClient;
  let doc: any;
  let ajv: Ajv2020;

  /** Checks a real answer against the schema the document gives it; answers the errors, empty when it fits. */
  function misfits(path: string, method: string, status: number, body: unknown, mediaType = 'application/json') {
    const schema = doc.paths[path]?.[method]?.responses?.[String(status)]?.content?.[mediaType]?.schema;
    if (!schema) return [`no ${status} ${mediaType} answer documented for ${method.toUpperCase()} ${path}`];
    const validate = ajv.compile({ $ref: `openapi${schema.$ref}` });
    return validate(body) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  }

  beforeAll(async () => {
    admin = sys.client.withKey(ADMIN_KEY);
    const res = await sys.client.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    doc = res.json;
    ajv = new Ajv2020({ strict: false, allErrors: true });
    ajvFormats.default(ajv);
    ajv.addSchema({ $id: 'openapi', components: doc.components });
  });

  it('is a valid OpenAPI 3.1 document, served without a key', async () => {
    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('holds every route the running API mapped, and no route it does not serve', () => {
    // Nest logs each route as its router registers it: the running app's own list, not one kept by this test.
    const mapped = [...sys.api.output.join('').matchAll(/Mapped \{([^,}]+), ([A-Z]+)\} route/g)].map(
      ([, path, method]) => `${method} ${path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`,
    );
    expect(mapped.length).toBeGreaterThan(20);
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods as object).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.filter((d) => !mapped.includes(d))).toEqual(['GET /admin/queues']); // Bull Board, not Nest's
    expect(mapped.filter((m) => !documented.includes(m))).toEqual([]);
    expect(new Set(mapped).size).toBe(mapped.length);
  });

  it('gives each keyed route its scope and the 401/403 error shape, and public routes no security', () => {
    const submit = doc.paths['/v1/batches'].post;
    expect(submit.security).toEqual([{ apiKey: ['submit'] }]);
    expect(submit.responses['400'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(doc.components.schemas.Error.properties.field).toBeDefined();
    expect(doc.paths['/v1/audit'].get.security).toEqual([{ apiKey: ['admin'] }]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/health'].get.responses['401']).toBeUndefined();
  });

  it('validates every JSON request example of README.md and docs/ against the body schema of its route', () => {
    const examples = docExamples();
    // README's batch, docs/api.md's batches, docs/operations.md's key, repository and schedule at least.
    expect(examples.length).toBeGreaterThanOrEqual(5);
    const templates = Object.keys(doc.paths);
    for (const example of examples) {
      const where = `${example.file}: ${example.method} ${example.path}`;
      const template = templateFor(templates, example.path);
      const schema =
        template &&
        doc.paths[template][example.method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema;
      expect({ where, documented: Boolean(schema) }).toEqual({ where, documented: true });
      const validate = ajv.compile({ $ref: `openapi${schema.$ref}` });
      const errors = validate(example.body) ? [] : validate.errors;
      expect({ where, errors }).toEqual({ where, errors: [] });
    }
  });

  it('has request schemas that refuse what the API refuses: an unknown field, in a batch or a schedule’s', async () => {
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/BatchSubmission' });
    const validateSchedule = ajv.compile({ $ref: 'openapi#/components/schemas/ScheduleSubmission' });
    const body = {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT10M',
      task: { type: 'summarize' },
      items: [{ id: 'a', text: 'x' }],
    };
    expect(validate(body)).toBe(true);
    const typo = { ...body, sensitivty: 'public' };
    expect(validate(typo)).toBe(false);
    const refused = await admin.request('POST', '/v1/batches', typo);
    expect([refused.status, refused.json.field]).toEqual([400, 'sensitivty']);
    expect(validateSchedule({ name: 'typo', every: 60_000, batch: body })).toBe(true);
    expect(validateSchedule({ name: 'typo', every: 60_000, batch: typo })).toBe(false);
    const refusedSchedule = await admin.request('POST', '/v1/schedules', { name: 'typo', every: 60_000, batch: typo });
    expect([refusedSchedule.status, refusedSchedule.json.field]).toEqual([400, 'batch.sensitivty']);
    const limit = doc.components.schemas.BatchSubmission.oneOf[0].properties.items.maxItems;
    expect(limit).toBe(10_000); // MAX_ITEMS_PER_BATCH's default, read from this API's config
    // An OpenAI input file has its own: OPENAI_BATCH_MAX_LINES, OpenAI's 50,000 by default.
    expect(doc.components.schemas.OpenAIFileUpload.properties.file.description).toContain(
      'At most 50000 lines (OPENAI_BATCH_MAX_LINES)',
    );
  });

  it('answers 202 with a Location that leads to the accepted batch', async () => {
    const res = await admin.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'internal',
      deadline: 'PT10M',
      task: { type: 'summarize' },
      items: [{ id: 'memo-1', text: 'The board met on Monday.' }],
    });
    expect(res.status).toBe(202);
    const location = res.headers.get('location');
    expect(location).toBe(`/v1/batches/${res.json.id}`);
    const followed = await admin.request('GET', location!);
    expect(followed.status).toBe(200);
    expect(followed.json.id).toBe(res.json.id);
    expect(misfits('/v1/batches', 'post', 202, res.json)).toEqual([]);
    expect(doc.paths['/v1/batches'].post.responses['202'].headers.Location).toBeDefined();
  });

  it('answers as its document says, errors included', async () => {
    const batch = await admin.request('POST', '/v1/batches', {
      kind: 'code-migration',
      sensitivity: 'internal',
      deadline: 'PT1H',
      task: { instruction: 'Use const.' },
      items: [{ path: 'a.js', content: 'var a = 1;\n' }],
    });
    expect(batch.status).toBe(202);
    const id = batch.json.id as string;
    const schedule = await admin.request('POST', '/v1/schedules', {
      name: 'nightly',
      every: 3_600_000,
      batch: {
        kind: 'document-processing',
        sensitivity: 'internal',
        deadline: 'PT6H',
        task: { type: 'summarize' },
        items: [{ id: 'r', text: 'Numbers.' }],
      },
    });
    expect(schedule.status).toBe(201);
    expect(schedule.headers.get('location')).toBe('/v1/schedules/nightly');
    const key = await admin.request('POST', '/v1/keys', { name: 'reader', scopes: ['read'] });
    const reader = sys.client.withKey(key.json.secret);

    const calls: Array<[string, string, string, unknown, number, string, string?]> = [
      // [method, path as called, documented template, body, status, template for the doc, media type]
      ['POST', '/v1/batches/quote', '/v1/batches/quote', { ...schedule.json.batch, deadline: 'PT6H' }, 200, 'post'],
      ['GET', '/v1/batches', '/v1/batches', undefined, 200, 'get'],
      ['GET', `/v1/batches/${id}`, '/v1/batches/{id}', undefined, 200, 'get'],
      ['GET', `/v1/batches/${id}/items`, '/v1/batches/{id}/items', undefined, 200, 'get'],
      ['GET', '/v1/schedules', '/v1/schedules', undefined, 200, 'get'],
      ['GET', '/v1/schedules/nightly', '/v1/schedules/{name}', undefined, 200, 'get'],
      ['GET', '/v1/keys', '/v1/keys', undefined, 200, 'get'],
      ['GET', '/v1/repositories', '/v1/repositories', undefined, 200, 'get'],
      ['GET', '/v1/audit', '/v1/audit', undefined, 200, 'get'],
      ['GET', '/v1/pools', '/v1/pools', undefined, 200, 'get'],
      ['GET', '/v1/providers', '/v1/providers', undefined, 200, 'get'],
      ['GET', '/health', '/health', undefined, 200, 'get'],
      ['GET', '/ready/api', '/ready/api', undefined, 200, 'get'],
      ['GET', '/ready', '/ready', undefined, 503, 'get'], // no worker: no pool consuming
      ['GET', '/v1/batches/nope', '/v1/batches/{id}', undefined, 404, 'get'],
      ['GET', '/v1/batches?limit=0', '/v1/batches', undefined, 400, 'get'],
      ['POST', '/v1/batches', '/v1/batches', { kind: 'document-processing' }, 400, 'post'],
      ['DELETE', '/v1/schedules/nightly', '/v1/schedules/{name}', undefined, 200, 'delete'],
      ['DELETE', `/v1/batches/${id}`, '/v1/batches/{id}', undefined, 200, 'delete'],
    ];
    for (const [method, path, template, body, status, docMethod] of calls) {
      const res = await admin.request(method, path, body);
      expect({ path, status: res.status }).toEqual({ path, status });
      expect({ path, misfits: misfits(template, docMethod, status, res.json) }).toEqual({ path, misfits: [] });
    }
    expect(misfits('/v1/keys', 'post', 201, key.json)).toEqual([]);
    expect(misfits('/v1/schedules', 'post', 201, schedule.json)).toEqual([]);
    const denied = await sys.client.request('GET', '/v1/batches');
    expect(misfits('/v1/batches', 'get', 401, denied.json)).toEqual([]);
    const forbidden = await reader.request('GET', '/v1/keys');
    expect(forbidden.status).toBe(403);
    expect(misfits('/v1/keys', 'get', 403, forbidden.json)).toEqual([]);
    const lines = (await admin.request('GET', `/v1/batches/${id}/results`)).text.trim().split('\n');
    for (const line of lines) {
      expect(misfits('/v1/batches/{id}/results', 'get', 200, JSON.parse(line), 'application/x-ndjson')).toEqual([]);
    }
    // A completed chat item's line holds a chat.completion object, as /results writes it (no worker runs here).
    const chatItem = {
      id: 'q-1',
      index: 0,
      status: 'completed',
      route: { target: 'cloud', provider: 'frontier', model: 'big', reason: 'cheapest cleared provider' },
      usage: { inputTokens: 12, outputTokens: 3 },
      costUsd: 0.0001,
      result: JSON.stringify({ content: 'Hello.', finish_reason: 'stop' }),
      finishedAt: new Date().toISOString(),
    };
    const { id: itemId, status, route, usage, costUsd } = chatItem;
    const chatLine = {
      id: itemId,
      status,
      route,
      usage,
      costUsd,
      result: chatCompletionOf('b-1', chatItem as never),
      diff: null,
      error: null,
    };
    expect(misfits('/v1/batches/{id}/results', 'get', 200, chatLine, 'application/x-ndjson')).toEqual([]);
  });

  it('answers the OpenAI surface as its document says: upload, create, read, list, cancel, content, delete, errors', async () => {
    const line = JSON.stringify({
      custom_id: 'q-1',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hi.' }], max_tokens: 8 },
    });
    const jsonl = `${line}\n`;
    const uploadForm = () => {
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([jsonl], { type: 'application/jsonl' }), 'input.jsonl');
      // An object field as the SDK writes it: one part per property, named field[property].
      form.append('expires_after[anchor]', 'created_at');
      form.append('expires_after[seconds]', '86400');
      return form;
    };
    // The document's multipart fields are the form's, as the openai SDKs send it.
    const upload = doc.paths['/openai/v1/files'].post.requestBody.content['multipart/form-data'].schema;
    expect(Object.keys(doc.components.schemas[upload.$ref.split('/').pop()].properties).sort()).toEqual(
      [...new Set([...uploadForm().keys()].map((k) => k.replace(/\[.*$/, '')))].sort(),
    );
    const uploaded = await fetchJson(`${sys.url}/openai/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      body: uploadForm(),
    });
    expect(uploaded.status).toBe(200);
    expect(misfits('/openai/v1/files', 'post', 200, uploaded.json)).toEqual([]);
    expect(uploaded.json.expires_at).toBe(uploaded.json.created_at + 86400);
    const fileId = uploaded.json.id as string;

    const create = { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '1h' };
    const validateCreate = ajv.compile({
      $ref: `openapi${doc.paths['/openai/v1/batches'].post.requestBody.content['application/json'].schema.$ref}`,
    });
    expect(validateCreate(create)).toBe(true);
    expect(validateCreate({ ...create, completion_window: 'soon' })).toBe(false);
    const batch = await admin.request('POST', '/openai/v1/batches', create);
    expect(batch.status).toBe(200);
    const id = batch.json.id as string;
    // The file's line fits the documented line schema and was taken (a line that does not is never run).
    const validateLine = ajv.compile({ $ref: 'openapi#/components/schemas/OpenAIBatchLine' });
    expect(validateLine(JSON.parse(line))).toBe(true);
    expect([batch.json.status, batch.json.request_counts]).toEqual([
      'in_progress',
      { total: 1, completed: 0, failed: 0 },
    ]);
    expect(validateLine({ ...JSON.parse(line), url: '/v1/embeddings' })).toBe(false);

    const calls: Array<[string, string, string, unknown, number]> = [
      // [method, path as called, documented template, body, status]
      ['GET', `/openai/v1/batches/${id}`, '/openai/v1/batches/{id}', undefined, 200],
      ['GET', '/openai/v1/batches?limit=1', '/openai/v1/batches', undefined, 200],
      ['GET', `/openai/v1/files/${fileId}`, '/openai/v1/files/{id}', undefined, 200],
      ['POST', `/openai/v1/batches/${id}/cancel`, '/openai/v1/batches/{id}/cancel', undefined, 200],
      ['GET', '/openai/v1/batches/batch_nope', '/openai/v1/batches/{id}', undefined, 404],
      ['GET', '/openai/v1/batches?after=batch_nope', '/openai/v1/batches', undefined, 400],
      ['POST', '/openai/v1/batches', '/openai/v1/batches', { ...create, completion_window: 'soon' }, 400],
      ['GET', '/openai/v1/files/file-nope', '/openai/v1/files/{id}', undefined, 404],
    ];
    expect(misfits('/openai/v1/batches', 'post', 200, batch.json)).toEqual([]);
    for (const [method, path, template, body, status] of calls) {
      const res = await admin.request(method, path, body);
      expect({ path, status: res.status }).toEqual({ path, status });
      const docMethod = method.toLowerCase();
      expect({ path, misfits: misfits(template, docMethod, status, res.json) }).toEqual({ path, misfits: [] });
    }

    const content = await admin.request('GET', `/openai/v1/files/${fileId}/content`);
    expect(content.status).toBe(200);
    const contentType = content.headers.get('content-type')!.split(';')[0];
    expect(Object.keys(doc.paths['/openai/v1/files/{id}/content'].get.responses['200'].content)).toEqual([contentType]);
    expect(content.text).toBe(jsonl);

    const denied = await sys.client.request('GET', '/openai/v1/batches');
    expect(denied.status).toBe(401);
    expect(misfits('/openai/v1/batches', 'get', 401, denied.json)).toEqual([]);
    const key = await admin.request('POST', '/v1/keys', { name: 'openai-reader', scopes: ['read'] });
    const forbidden = await sys.client.withKey(key.json.secret).request('DELETE', `/openai/v1/files/${fileId}`);
    expect(forbidden.status).toBe(403);
    expect(misfits('/openai/v1/files/{id}', 'delete', 403, forbidden.json)).toEqual([]);
    const deleted = await admin.request('DELETE', `/openai/v1/files/${fileId}`);
    expect(deleted.status).toBe(200);
    expect(misfits('/openai/v1/files/{id}', 'delete', 200, deleted.json)).toEqual([]);
  });

  it('serves /docs as one page with every route, no script and nothing to fetch', async () => {
    const res = await sys.client.request('GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.text).not.toMatch(/<script|<link|src=/i);
    expect(res.text).toContain('Body: multipart/form-data <a href="#schema-OpenAIFileUpload">');
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods as object)) {
        expect(res.text).toContain(`<span class="m">${method}</span> <code>${path.replace(/&/g, '&#38;')}</code>`);
      }
    }
  });
});

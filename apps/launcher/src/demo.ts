/**
 * `npm run demo`: submits a code migration of examples/sample-repo and a document classification of
 * examples/documents to a running system (API_URL, default http://127.0.0.1:3000), waits for both and
 * prints each item's route, tokens and cost. Prints ids, routes and numbers only, never document text.
 * With API keys configured, SWITCHYARD_API_KEY is sent as the bearer key (scopes submit and read).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const api = process.env.API_URL ?? 'http://127.0.0.1:3000';
const auth: Record<string, string> = process.env.SWITCHYARD_API_KEY
  ? { authorization: `Bearer ${process.env.SWITCHYARD_API_KEY}` }
  : {};
const examples = join(process.cwd(), 'examples');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the demo reads whatever the API answers
async function call(method: string, path: string, body?: unknown): Promise<any> {
  const headers = { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) };
  const res = await fetch(api + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function run(title: string, body: unknown): Promise<void> {
  const { id } = await call('POST', '/v1/batches', body);
  let batch;
  do {
    await new Promise((r) => setTimeout(r, 500));
    batch = await call('GET', `/v1/batches/${id}`);
  } while (!batch.finishedAt);
  console.log(
    `\n${title}: batch ${id} ${batch.status}; ${batch.usage.inputTokens} in / ${batch.usage.outputTokens} out tokens; $${batch.cost.usd}`,
  );
  const { items } = await call('GET', `/v1/batches/${id}/items?limit=1000`);
  for (const i of items) {
    const route = i.route ? `${i.route.target}/${i.route.provider} (${i.route.model})` : '-';
    const usage = i.usage ? `${i.usage.inputTokens}+${i.usage.outputTokens} tok` : '';
    console.log(
      `  ${i.id.padEnd(22)} ${i.status.padEnd(9)} ${route.padEnd(40)} ${usage.padEnd(14)} ${i.costUsd === null ? '' : '$' + i.costUsd}${i.error ? `  ${i.error.slice(0, 80)}` : ''}`,
    );
  }
}

const repo = join(examples, 'sample-repo');
await run('Code migration (CommonJS → ES modules)', {
  kind: 'code-migration',
  sensitivity: 'internal',
  deadline: 'PT10M',
  task: { instruction: 'Convert CommonJS modules to ES modules', maxTokens: 256 },
  items: files(repo).map((path) => ({ path: relative(repo, path), content: readFileSync(path, 'utf8') })),
});
const docs = join(examples, 'documents');
await run('Document classification', {
  kind: 'document-processing',
  sensitivity: 'confidential',
  deadline: 'PT10M',
  task: { type: 'classify', labels: ['invoice', 'memo', 'complaint'] },
  items: files(docs).map((path) => ({ id: relative(docs, path), text: readFileSync(path, 'utf8') })),
});

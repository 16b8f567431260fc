#!/usr/bin/env node
/**
 * `switchyard`: the command-line client of a running Switchyard API (issue 15 §7). SWITCHYARD_URL (default
 * http://127.0.0.1:3000) and SWITCHYARD_API_KEY say where and as whom.
 *
 *   switchyard submit FILE|-|DIR [--watch]   a batch from JSON (a file or stdin) or from a folder:
 *       documents (--task summarize|classify|extract, --labels a,b, --schema FILE) or, with --instruction
 *       or --preset, a code migration; --glob PATTERN (repeatable) picks files; --sensitivity, --deadline,
 *       --model, --max-cost, --idempotency-key
 *   switchyard quote FILE|-|DIR              the plan for such a batch, without enqueuing it
 *   switchyard watch ID                      a progress line until the batch finishes, then its summary
 *   switchyard get ID                        the batch's status, counts, routes and cost
 *   switchyard results ID                    its results as NDJSON
 *   switchyard patch ID | git apply          a code migration's patch
 *   switchyard cancel ID
 *   switchyard keys create --name N --scopes submit,read [--tenant T] [--expires ISO] | list | revoke ID
 *
 * JSON answers go to stdout, progress and errors to stderr. Exit status: 0 done; 1 the API refused (the
 * message names the field, as the API does) or the batch did not fully complete (watch); 2 wrong usage.
 */
import { isUtf8 } from 'node:buffer';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { batchFromFolder, looksBinary, type BatchBody, type FolderFile } from './client/batch-input.js';
import { progressLine, type BatchProgressView } from './client/batch-progress.js';
import { globMatcher } from './client/path-glob.js';
import { SseParser } from './client/sse-parser.js';
import { ApiError, SwitchyardClient } from './client/switchyard-client.js';

class UsageError extends Error {}

const USAGE = `usage: switchyard <submit|quote> FILE|-|DIR [flags] | <watch|get|results|patch|cancel> ID | keys <create|list|revoke> …
  submit/quote flags: --glob PATTERN (repeatable) --instruction TEXT --preset NAME --task summarize|classify|extract
    --labels a,b --schema FILE --sensitivity LEVEL --deadline ISO|DURATION --model NAME --max-cost USD
    --idempotency-key KEY --watch
  keys create flags: --name NAME --scopes submit,read,admin [--tenant T] [--expires ISO-8601]
  env: SWITCHYARD_URL (default http://127.0.0.1:3000), SWITCHYARD_API_KEY`;

const SKIPPED_DIRS = new Set(['.git', 'node_modules']);

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      glob: { type: 'string', multiple: true },
      instruction: { type: 'string' },
      preset: { type: 'string' },
      task: { type: 'string' },
      labels: { type: 'string' },
      schema: { type: 'string' },
      sensitivity: { type: 'string' },
      deadline: { type: 'string' },
      model: { type: 'string' },
      'max-cost': { type: 'string' },
      'idempotency-key': { type: 'string' },
      watch: { type: 'boolean' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      tenant: { type: 'string' },
      expires: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, arg, ...rest] = positionals;
  if (values.help || !command) throw new UsageError(USAGE);
  const client = new SwitchyardClient(
    process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:3000',
    process.env.SWITCHYARD_API_KEY || undefined,
  );
  const one = (what: string): string => {
    if (!arg || rest.length > 0) throw new UsageError(`usage: switchyard ${command} ${what}`);
    return arg;
  };
  const id = () => encodeURIComponent(one('ID'));

  switch (command) {
    case 'submit': {
      const body = await batchBody(one('FILE|-|DIR'), values);
      const key = values['idempotency-key'];
      const accepted = await client.json<{ id: string }>(
        'POST',
        '/v1/batches',
        body,
        key ? { 'idempotency-key': key } : {},
      );
      printJson(accepted);
      return values.watch ? watch(client, accepted.id) : 0;
    }
    case 'quote':
      printJson(await client.json('POST', '/v1/batches/quote', await batchBody(one('FILE|-|DIR'), values)));
      return 0;
    case 'watch':
      return watch(client, one('ID'));
    case 'get':
      printJson(await client.json('GET', `/v1/batches/${id()}`));
      return 0;
    case 'results':
    case 'patch': {
      const res = await client.send('GET', `/v1/batches/${id()}/${command}`);
      for await (const chunk of res.body ?? []) process.stdout.write(chunk);
      return 0;
    }
    case 'cancel':
      printJson(await client.json('DELETE', `/v1/batches/${id()}`));
      return 0;
    case 'keys':
      return keys(client, arg, rest, values);
    default:
      throw new UsageError(USAGE);
  }
}

type Flags = Record<string, string | string[] | boolean | undefined>;

/** JSON from a file or stdin as it is; a folder made into a batch from the flags. */
async function batchBody(source: string, values: Flags): Promise<BatchBody> {
  const text = (flag: string) => values[flag] as string | undefined;
  if (source !== '-' && (await isDirectory(source))) {
    const matches = globMatcher((values.glob as string[] | undefined) ?? ['**/*']);
    const folder = await readFolder(source);
    const files = folder.files.filter((f) => matches(f.path));
    const notUtf8 = folder.notUtf8.filter(matches);
    if (notUtf8.length > 0)
      process.stderr.write(
        `switchyard: skipped, not UTF-8 text: ${notUtf8.map((p) => JSON.stringify(p)).join(', ')}\n`,
      );
    const schema = text('schema');
    const maxCost = text('max-cost');
    return batchFromFolder(files, {
      sensitivity: text('sensitivity'),
      deadline: text('deadline'),
      model: text('model'),
      maxCostUsd: maxCost === undefined ? undefined : Number(maxCost),
      instruction: text('instruction'),
      preset: text('preset'),
      task: text('task'),
      labels: text('labels')
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      schema: schema === undefined ? undefined : JSON.parse(await readFile(schema, 'utf8')),
    });
  }
  const raw = source === '-' ? await readStdin() : await readFile(source, 'utf8');
  try {
    return JSON.parse(raw) as BatchBody;
  } catch (err) {
    throw new UsageError(`${source}: not JSON (${(err as Error).message}); a folder makes a batch from its files`);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    await readdir(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every text file under `root` (not .git or node_modules), paths relative with `/`; `notUtf8` names the files
 * left out for not being UTF-8 (a Latin-1 file, no NUL byte): sent as a string, its accented bytes would
 * become U+FFFD, and a migration's patch, made against that text, would not apply.
 */
async function readFolder(root: string): Promise<{ files: FolderFile[]; notUtf8: string[] }> {
  const files: FolderFile[] = [];
  const notUtf8: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const path = relative(root, full).split(sep).join('/');
    if (path.split('/').some((part) => SKIPPED_DIRS.has(part))) continue;
    const bytes = await readFile(full);
    if (looksBinary(bytes)) continue;
    if (isUtf8(bytes)) files.push({ path, text: bytes.toString('utf8') });
    else notUtf8.push(path);
  }
  return { files, notUtf8 };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Follows a batch until it finishes: from its event stream (GET /v1/batches/:id/events) when the API has
 * one, each event fetching the batch's counts; by polling once a second otherwise, or when the stream ends
 * early. The progress line goes to stderr (rewritten in place on a terminal); the final batch to stdout.
 */
async function watch(client: SwitchyardClient, id: string): Promise<number> {
  const path = `/v1/batches/${encodeURIComponent(id)}`;
  const tty = process.stderr.isTTY;
  let last = '';
  const show = async (): Promise<BatchProgressView> => {
    const view = await client.json<BatchProgressView>('GET', path);
    const line = progressLine(view);
    if (line !== last) process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    last = line;
    return view;
  };
  let view = await show();
  if (!view.finishedAt) view = (await followEvents(client, path, show)) ?? view;
  while (!view.finishedAt) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    view = await show();
  }
  if (tty) process.stderr.write('\n');
  printJson(view);
  return view.counts.completed === view.counts.total ? 0 : 1;
}

/** The batch once finished, or null when the API has no event stream or it ended first. */
async function followEvents(
  client: SwitchyardClient,
  path: string,
  show: () => Promise<BatchProgressView>,
): Promise<BatchProgressView | null> {
  let res: Response;
  try {
    res = await client.send('GET', `${path}/events`, undefined, { accept: 'text/event-stream' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null; // an API without the stream: poll
    throw err;
  }
  const parser = new SseParser();
  const decoder = new TextDecoder();
  let shownAt = 0;
  try {
    for await (const chunk of res.body ?? []) {
      if (parser.push(decoder.decode(chunk as Uint8Array, { stream: true })).length === 0) continue;
      // Many events may arrive together: at most four fetches a second (the caller's polling shows the last).
      if (Date.now() - shownAt < 250) continue;
      shownAt = Date.now();
      const view = await show();
      if (view.finishedAt) return view;
    }
  } catch (err) {
    // The stream broke (the API restarting, a proxy's timeout): only how progress arrives changes.
    if (err instanceof ApiError) throw err;
  } finally {
    await res.body?.cancel().catch(() => undefined);
  }
  return null;
}

async function keys(client: SwitchyardClient, command: string | undefined, rest: string[], values: Flags) {
  const text = (flag: string) => values[flag] as string | undefined;
  switch (command) {
    case 'create': {
      const scopes = text('scopes')
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const key = await client.json('POST', '/v1/keys', {
        name: text('name'),
        scopes,
        ...(text('tenant') === undefined ? {} : { tenant: text('tenant') }),
        ...(text('expires') === undefined ? {} : { expiresAt: text('expires') }),
      });
      process.stderr.write('Store the secret now: only its hash is kept, it cannot be shown again.\n');
      printJson(key);
      return 0;
    }
    case 'list':
      printJson(await client.json('GET', '/v1/keys'));
      return 0;
    case 'revoke':
      if (rest.length !== 1) throw new UsageError('usage: switchyard keys revoke ID');
      printJson(await client.json('DELETE', `/v1/keys/${encodeURIComponent(rest[0])}`));
      return 0;
    default:
      throw new UsageError(
        'usage: switchyard keys create --name N --scopes a,b [--tenant T] [--expires ISO] | list | revoke ID',
      );
  }
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof ApiError) {
      process.stderr.write(`switchyard: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      const e = err as NodeJS.ErrnoException;
      // A network error says where it could not connect, without a stack: the usual cause is the URL.
      const cause = (e.cause as NodeJS.ErrnoException | undefined)?.code;
      process.stderr.write(`switchyard: ${e.message}${cause ? ` (${cause})` : ''}\n`);
      process.exitCode = 1;
    }
  },
);

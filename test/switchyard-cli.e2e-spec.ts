import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { useSystem } from './support/use-system.js';

/**
 * The `switchyard` CLI (issue 15 §7), built, against a running API, worker and OpenAI double: what a person
 * types, with SWITCHYARD_URL and SWITCHYARD_API_KEY. Public documents go to the double (cheaper than the local
 * model here), so batches finish in moments.
 */
const ADMIN_KEY = 'cli-e2e-bootstrap-admin-secret-0123456789';

const sys = useSystem(
  ({ double }) => ({
    OPENAI_BASE_URL: double.url,
    OPENAI_API_KEY: 'k',
    CLOUD_PRICE_INPUT_PER_M: '0',
    CLOUD_PRICE_OUTPUT_PER_M: '0',
    LOCAL_PRICE_INPUT_PER_M: '20',
    LOCAL_PRICE_OUTPUT_PER_M: '60',
    ADMIN_API_KEY: ADMIN_KEY,
  }),
  { double: { apiKey: 'k' } },
);

const dir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], opts: { key?: string | null; stdin?: string } = {}): Promise<CliRun> {
  return new Promise((done) => {
    const key = opts.key === undefined ? ADMIN_KEY : opts.key;
    const child = spawn(process.execPath, [resolve('dist/apps/cli/src/switchyard.js'), ...args], {
      env: { PATH: process.env.PATH, SWITCHYARD_URL: sys.url, ...(key ? { SWITCHYARD_API_KEY: key } : {}) },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.end(opts.stdin ?? '');
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const lastJson = (out: string): any => JSON.parse(out.trim().split('\n').at(-1)!);

const docs = (n: number) => ({
  kind: 'document-processing',
  sensitivity: 'public',
  deadline: 'PT30M',
  task: { type: 'summarize' },
  items: Array.from({ length: n }, (_, i) => ({ id: `memo-${i}`, text: `The board met on day ${i} and approved it.` })),
});

describe('the switchyard CLI', () => {
  it('submits a JSON file, watches it to the end with a progress line, and prints its results as NDJSON', async () => {
    const file = join(dir, 'batch.json');
    writeFileSync(file, JSON.stringify(docs(3)));
    const submitted = await cli(['submit', file, '--watch']);
    expect(submitted.stderr).toMatch(/\[#{30}\] 3\/3 {2}completed 3/);
    expect(submitted.code).toBe(0);
    const lines = submitted.stdout.trim().split('\n');
    const { id } = JSON.parse(lines[0]);
    expect(lastJson(submitted.stdout)).toMatchObject({ id, status: 'completed', counts: { completed: 3 } });

    const results = await cli(['results', id]);
    expect(results.code).toBe(0);
    const rows = results.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id).sort()).toEqual(['memo-0', 'memo-1', 'memo-2']);
  });

  it('reads a batch from stdin, and watch on its own follows it', async () => {
    const submitted = await cli(['submit', '-'], { stdin: JSON.stringify(docs(1)) });
    expect(submitted.code).toBe(0);
    const { id } = lastJson(submitted.stdout);
    const watched = await cli(['watch', id]);
    expect(watched.code).toBe(0);
    expect(lastJson(watched.stdout)).toMatchObject({ id, counts: { total: 1, completed: 1 } });
  });

  it('makes a document batch from a folder: the files the glob picks, UTF-8 text only, named by path', async () => {
    const folder = join(dir, 'docs');
    mkdirSync(join(folder, 'minutes'), { recursive: true });
    mkdirSync(join(folder, 'node_modules'), { recursive: true });
    writeFileSync(join(folder, 'minutes', 'monday.txt'), 'The board approved the budget.');
    writeFileSync(join(folder, 'tuesday.txt'), 'The committee met.');
    writeFileSync(join(folder, 'notes.md'), 'not matched by the glob');
    writeFileSync(join(folder, 'logo.txt'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01]));
    // Latin-1, no NUL byte: sent as text its é would arrive as U+FFFD. Left out, and said so.
    writeFileSync(join(folder, 'legacy.txt'), Buffer.from('Le comit\xe9 a vot\xe9.', 'latin1'));
    writeFileSync(join(folder, 'node_modules', 'dep.txt'), 'never read');
    const submitted = await cli(['submit', folder, '--glob', '**/*.txt', '--sensitivity', 'public', '--watch']);
    expect({ code: submitted.code, stderr: submitted.stderr }).toEqual({
      code: 0,
      stderr: expect.stringMatching(/2\/2/),
    });
    expect(submitted.stderr).toContain('switchyard: skipped, not UTF-8 text: "legacy.txt"');
    const { id } = JSON.parse(submitted.stdout.split('\n')[0]);
    const items = await sys.client.withKey(ADMIN_KEY).request('GET', `/v1/batches/${id}/items`);
    expect(items.json.items.map((i: { id: string }) => i.id)).toEqual(['minutes/monday.txt', 'tuesday.txt']);
  });

  it('quotes without enqueuing, and cancels', async () => {
    const file = join(dir, 'quote.json');
    writeFileSync(file, JSON.stringify(docs(2)));
    const quoted = await cli(['quote', file]);
    expect(quoted.code).toBe(0);
    expect(lastJson(quoted.stdout)).toMatchObject({ total: 2 });

    const submitted = await cli(['submit', file]);
    const { id } = lastJson(submitted.stdout);
    const cancelled = await cli(['cancel', id]);
    expect(cancelled.code).toBe(0);
    expect(lastJson(cancelled.stdout)).toMatchObject({ id });
  });

  it('says which field is wrong as the API does, and exits 1', async () => {
    const bad = { ...docs(1), items: [{ id: 'memo' }] };
    const refused = await cli(['submit', '-'], { stdin: JSON.stringify(bad) });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^switchyard: 400 items\[0\]\.text/);
    expect(refused.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const unknown = await cli(['get', 'no-such-batch']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^switchyard: 404/);

    const usage = await cli(['frobnicate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^usage: switchyard/);
  });

  it('manages keys with an admin key; the new key can submit but not manage keys', async () => {
    const created = await cli(['keys', 'create', '--name', 'ci', '--scopes', 'submit,read']);
    expect(created.code).toBe(0);
    const key = lastJson(created.stdout);
    expect(key).toMatchObject({ name: 'ci', scopes: ['submit', 'read'] });
    expect(typeof key.secret).toBe('string');

    const listed = await cli(['keys', 'list']);
    expect(lastJson(listed.stdout).keys.map((k: { id: string }) => k.id)).toContain(key.id);

    const asCi = await cli(['submit', '-'], { key: key.secret, stdin: JSON.stringify(docs(1)) });
    expect(asCi.code).toBe(0);
    const forbidden = await cli(['keys', 'list'], { key: key.secret });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^switchyard: 403/);

    const revoked = await cli(['keys', 'revoke', key.id]);
    expect(revoked.code).toBe(0);
    const afterRevoke = await cli(['get', 'x'], { key: key.secret });
    expect(afterRevoke.stderr).toMatch(/^switchyard: 401/);
  });
});

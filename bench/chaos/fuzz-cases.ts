import { fetchJson } from '../../test/support/fetch-json.js';
import type { Random } from '../routing/random.js';
import { markerFor, type Ledger } from './ledger.js';
import { randomSensitivity } from './workload.js';

/**
 * One request the fuzz sends. `expect`: "accept" for bodies that are valid (must be 2xx), "reject" for
 * ones that cannot be (must be 4xx), "either" for random mutations (2xx or 4xx; never 5xx).
 */
export interface FuzzCase {
  family:
    | 'malformed-json'
    | 'wrong-type'
    | 'huge'
    | 'deep'
    | 'unicode'
    | 'mutation'
    | 'path'
    | 'hostile'
    | 'repository'
    | 'schedule';
  method: 'GET' | 'POST';
  path: string;
  /** Sent as is: a string is UTF-8 encoded, a Buffer may hold bytes that are not UTF-8 at all. */
  body?: string | Buffer;
  contentType?: string;
  expect: 'accept' | 'reject' | 'either';
}

/** Odd but valid text: lone surrogates, RTL override, zero-width joiners, BOM, emoji sequences, NUL, controls. */
const ODD = [
  '\ud800',
  '\udfff',
  'a\ud83dz',
  '\u202eevil\u202c',
  '\u200b\u200c\u200d',
  '\ufeff',
  '👩‍👩‍👧‍👦',
  '🏳️‍🌈',
  '\u0000',
  '\u0007\u001b[31m',
  'שלום عربى',
  'e\u0301\u0301\u0301',
  '\uffff\ufffe',
  '𝕳𝖊𝖑𝖑𝖔',
];

function validBody(
  ledger: Ledger,
  rng: Random,
  maxTokens: number,
  text = (m: string) => `${m}: a short note about the weekly sync.`,
) {
  const b = ledger.nextBatchNumber();
  const n = rng.int(1, 3);
  return {
    kind: 'document-processing',
    sensitivity: randomSensitivity(rng),
    deadline: 'P1D',
    task: { type: 'summarize', maxTokens },
    items: Array.from({ length: n }, (_, i) => ({ id: `f-${i}`, text: text(markerFor(ledger.run, b, i)) })),
  };
}

/** Replaces (or deletes) the value at `path` in a deep copy of `body`. */
function mutateAt(body: any, path: (string | number)[], value: unknown, remove = false): any {
  const copy = JSON.parse(JSON.stringify(body));
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key];
  const last = path[path.length - 1];
  if (remove) {
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

/** Every path to a value inside `value` (objects and arrays included), for random mutation. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
}

function randomValue(rng: Random): unknown {
  const pick = rng.int(0, 13);
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rng.int(-1e6, 1e6);
    case 2:
      return rng.next() * 1e300;
    case 3:
      return -0.5;
    case 4:
      return '';
    case 5:
      return ODD[rng.int(0, ODD.length - 1)];
    case 6:
      return 'x'.repeat(rng.int(1, 5000));
    case 7:
      return true;
    case 8:
      return [];
    case 9:
      return {};
    case 10:
      return [1, 'two', null];
    case 11:
      return { __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } };
    case 12:
      return 'PT0S';
    default:
      return Number.MAX_SAFE_INTEGER;
  }
}

function nested(depth: number, open: string, close: string, inner = '1'): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

/** `n` cases, drawn from every family in turn so even a quick run covers all of them. */
export function fuzzCases(ledger: Ledger, rng: Random, n: number, maxTokens: number): FuzzCase[] {
  const post = (
    family: FuzzCase['family'],
    body: string | Buffer,
    expect: FuzzCase['expect'],
    contentType = 'application/json',
  ): FuzzCase => ({
    family,
    method: 'POST',
    path: rng.next() < 0.2 ? '/v1/batches/quote' : '/v1/batches',
    body,
    contentType,
    expect,
  });
  const families: Array<() => FuzzCase> = [
    // Malformed JSON.
    () => {
      const valid = JSON.stringify(validBody(ledger, rng, maxTokens));
      const broken = [
        valid.slice(0, rng.int(1, valid.length - 1)),
        valid.replace('"kind"', "'kind'"),
        valid.replace(/}$/, ',}'),
        valid + valid,
        '{',
        '',
        '{"kind": "document-processing",, }',
        '\u0000',
        'undefined',
        '{"items": [1, 2, 3}',
      ];
      return post('malformed-json', broken[rng.int(0, broken.length - 1)], 'reject');
    },
    // Not JSON at all: bytes that are not UTF-8, or the wrong content type.
    () =>
      rng.next() < 0.5
        ? post('malformed-json', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]), 'reject')
        : post('malformed-json', JSON.stringify(validBody(ledger, rng, maxTokens)), 'reject', 'text/plain'),
    // Wrong types, one field at a time, and bodies that are not objects.
    () => {
      const body = validBody(ledger, rng, maxTokens);
      const wrong: Array<[(string | number)[], unknown]> = [
        [['kind'], 1],
        [['kind'], 'poetry'],
        [['sensitivity'], ['public']],
        [['sensitivity'], 'secret'],
        [['deadline'], {}],
        [['deadline'], 'tomorrow'],
        [['deadline'], '1999-01-01T00:00:00Z'],
        [['task'], 'summarize'],
        [['task', 'type'], 'translate'],
        [['task', 'maxTokens'], '10'],
        [['task', 'maxTokens'], -1],
        [['task', 'maxTokens'], 1.5],
        [['task', 'maxTokens'], 1e12],
        [['items'], {}],
        [['items'], []],
        [['items', 0], 'text'],
        [['items', 0, 'text'], 5],
        [['items', 0, 'id'], null],
        [['maxCostUsd'], -1],
        [['model'], 'no-such-model'],
      ];
      const [path, value] = wrong[rng.int(0, wrong.length - 1)];
      if (rng.next() < 0.15)
        return post('wrong-type', JSON.stringify([null, 'true', 42, [], '"a string"'][rng.int(0, 4)]), 'reject');
      return post('wrong-type', JSON.stringify(mutateAt(body, path, value)), 'reject');
    },
    // Huge: over the body limit, over the item limit, one very long item (valid: must be taken).
    () => {
      const pick = rng.int(0, 2);
      if (pick === 0)
        return post(
          'huge',
          JSON.stringify({ ...validBody(ledger, rng, maxTokens), padding: 'x'.repeat(400 * 1024) }),
          'reject',
        );
      if (pick === 1) {
        const body = validBody(ledger, rng, maxTokens);
        return post(
          'huge',
          JSON.stringify({ ...body, items: Array.from({ length: 501 }, (_, i) => ({ id: `n-${i}`, text: 'tiny' })) }),
          'reject',
        );
      }
      const body = validBody(ledger, rng, maxTokens, (m) => `${m}: ${'All work and no play. '.repeat(5000)}`);
      return post('huge', JSON.stringify({ ...body, sensitivity: 'public', items: body.items.slice(0, 1) }), 'accept');
    },
    // Deeply nested: as the whole body, inside an item, and as an extract schema.
    () => {
      const pick = rng.int(0, 3);
      const depth = rng.int(2000, 60_000);
      if (pick === 0) return post('deep', nested(depth, '[', ']'), 'reject');
      if (pick === 1)
        return post(
          'deep',
          `{"kind":"document-processing","sensitivity":"public","deadline":"P1D","task":{"type":"summarize"},"items":[${nested(depth, '{"a":', '}')}]}`,
          'reject',
        );
      const schema = nested(depth, '{"type":"object","properties":{"x":', '}}', '{"type":"string"}');
      const b = ledger.nextBatchNumber();
      return post(
        'deep',
        `{"kind":"document-processing","sensitivity":"public","deadline":"P1D","task":{"type":"extract","maxTokens":${maxTokens},"schema":${schema}},"items":[{"id":"d","text":"${markerFor(ledger.run, b, 0)}: invoice 42"}]}`,
        'either',
      );
    },
    // Odd unicode in the text (valid: must be taken) and in fields whose values are fixed (must be refused).
    () => {
      const odd = () => Array.from({ length: rng.int(1, 4) }, () => ODD[rng.int(0, ODD.length - 1)]).join('');
      if (rng.next() < 0.6) {
        const body = validBody(ledger, rng, maxTokens, (m) => `${m}: ${odd()} note ${odd()}`);
        body.items[0].id = `id-${odd()}`;
        return post('unicode', JSON.stringify(body), 'accept');
      }
      const body = validBody(ledger, rng, maxTokens);
      const field = (['kind', 'sensitivity', 'deadline'] as const)[rng.int(0, 2)];
      return post('unicode', JSON.stringify({ ...body, [field]: `${body[field]}${odd()}` }), 'reject');
    },
    // Random mutations of a valid body: any value replaced or removed, a key added.
    () => {
      const body = validBody(ledger, rng, maxTokens);
      const paths = pathsOf(body).filter((p) => p.length > 0);
      let mutated: any = body;
      for (let k = rng.int(1, 3); k > 0; k--) {
        const path = paths[rng.int(0, paths.length - 1)];
        try {
          mutated =
            rng.next() < 0.25 ? mutateAt(mutated, path, undefined, true) : mutateAt(mutated, path, randomValue(rng));
        } catch {
          // the path vanished under an earlier mutation
        }
      }
      if (rng.next() < 0.2) mutated = { ...mutated, ['extra' + rng.int(0, 9)]: randomValue(rng) };
      return post('mutation', JSON.stringify(mutated), 'either');
    },
    // What an adversarial probe found taking the service down or slipping through (issue 13 §4): deadlines past
    // the calendar, schemas that recurse, backtrack or are too big to compile quickly, unknown fields.
    () => {
      const body = validBody(ledger, rng, maxTokens);
      const extract = (schema: unknown) => ({ ...body, task: { type: 'extract', maxTokens, schema } });
      const hostile: Array<() => unknown> = [
        () => ({ ...body, deadline: 'P300000Y' }),
        () => ({ ...body, deadline: 'P99999999999999999999D' }),
        () => ({ ...body, deadline: '2030-02-30T00:00:00Z' }),
        () => extract({ $ref: '#' }),
        () => extract({ $defs: { a: { properties: { b: { $ref: '#/$defs/a' } } } }, $ref: '#/$defs/a' }),
        () => extract({ $dynamicAnchor: 'n', properties: { kids: { items: { $dynamicRef: '#n' } } } }),
        () => extract({ type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } }),
        () => {
          const fields = Array.from({ length: 2500 }, (_, i) => [`p${i}`, { type: 'string', description: 'field' }]);
          return extract({ type: 'object', properties: Object.fromEntries(fields) });
        },
        () => ({ ...body, sensitivty: 'restricted' }),
        () => ({ ...body, items: body.items.map((item) => ({ ...item, sensitivity: 'restricted' })) }),
      ];
      return post('hostile', JSON.stringify(hostile[rng.int(0, hostile.length - 1)]()), 'reject');
    },
    // Code migrations reaching outside a repository (issue 13 §5): item paths that leave it, repositories
    // nobody registered (the server's own checkout among them), branch names git would misread.
    () => {
      const task = { instruction: 'Use const', maxTokens };
      const code = { kind: 'code-migration', sensitivity: 'public', deadline: 'P1D', task };
      const pick = rng.int(0, 2);
      if (pick === 0) {
        const paths = ['../../etc/evil.json', '/etc/abs.json', 'src/../../x.js', 'a\\..\\..\\b.js', 'C:/x.js'];
        paths.push('a//b.js', './a.js', 'a\u0000.js', '.git/config');
        const path = paths[rng.int(0, paths.length - 1)];
        return post('repository', JSON.stringify({ ...code, items: [{ path, content: 'var a = 1;' }] }), 'reject');
      }
      const repos = ['.', '..', '/', '/etc', process.cwd(), '/nonexistent/repo', 'relative/repo', '/proc/self/cwd'];
      const source = { repo: repos[rng.int(0, repos.length - 1)] };
      if (pick === 1) return post('repository', JSON.stringify({ ...code, source }), 'reject');
      const branches = [
        '@',
        '@{-1}',
        'refs/heads/main',
        'main',
        'master',
        'HEAD',
        'a..b',
        'x.lock',
        '-f',
        'a b',
        'a~1',
      ];
      const output = { branch: branches[rng.int(0, branches.length - 1)] };
      return post('repository', JSON.stringify({ ...code, source, output }), 'reject');
    },
    // Schedules that would fire faster than SCHEDULE_MIN_INTERVAL_MS (issue 13 §3): a loop around the limits.
    () => {
      const batch = { ...validBody(ledger, rng, maxTokens), deadline: 'PT1H' };
      const timing = [
        { every: 1 },
        { every: 999 },
        ...['* * * * * *', '*/5 * * * * *', '0,1 * * * * *'].map((cron) => ({ cron, tz: 'UTC' })),
      ];
      const body = JSON.stringify({
        name: `fuzz-fast-${rng.int(0, 1e6)}`,
        ...timing[rng.int(0, timing.length - 1)],
        batch,
      });
      return {
        family: 'schedule',
        method: 'POST',
        path: '/v1/schedules',
        body,
        contentType: 'application/json',
        expect: 'reject',
      };
    },
    // Odd paths and query strings on the read side.
    () => {
      const paths = [
        '/v1/batches/%E0%A4%A',
        '/v1/batches/..%2F..%2Fetc%2Fpasswd',
        // A lone surrogate as UTF-8 would encode it (CESU-8): not valid UTF-8 once percent-decoded.
        '/v1/batches/%ED%A0%80',
        `/v1/batches/${encodeURIComponent(['\u202eevil', '\u200b\u200d', '👩‍👩‍👧‍👦', '\u0000', 'שלום'][rng.int(0, 4)])}`,
        '/v1/batches?limit=abc',
        '/v1/batches?limit=-1',
        '/v1/batches?before=not-a-date',
        '/v1/batches/00000000-0000-0000-0000-000000000000/items?offset=-5',
        '/v1/batches/00000000-0000-0000-0000-000000000000/results',
        '/v1/batches/x/items?limit=1e400',
        `/v1/batches/${'a'.repeat(4000)}`,
      ];
      return { family: 'path', method: 'GET', path: paths[rng.int(0, paths.length - 1)], expect: 'reject' };
    },
  ];
  return Array.from({ length: n }, (_, i) => families[i % families.length]());
}

export interface FuzzAnswer {
  status: number;
  json: any;
}

/** Sends one case with fetch directly (a Buffer body goes out byte for byte). */
export async function sendCase(baseUrl: string, c: FuzzCase): Promise<FuzzAnswer> {
  const { status, json } = await fetchJson(baseUrl + c.path, {
    method: c.method,
    headers: c.body === undefined ? {} : { 'content-type': c.contentType ?? 'application/json' },
    body: c.body,
  });
  return { status, json };
}

/** A refusal must say why: a JSON body with a message or a field. */
export function hasReason(json: any): boolean {
  const message = json?.message;
  return (
    (typeof message === 'string' && message.length > 0) ||
    (Array.isArray(message) && message.length > 0) ||
    (typeof json?.field === 'string' && json.field.length > 0)
  );
}

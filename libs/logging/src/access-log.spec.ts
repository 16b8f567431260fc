import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { accessLevel, createAccessLog, describeAccess, type AccessRecord } from './access-log.js';
import type { LogSettings } from './log-settings.js';

const record: AccessRecord = {
  method: 'POST',
  route: '/v1/batches',
  status: 202,
  ms: 14.2,
  keyId: 'k1',
  tenant: 'acme',
  requestId: 'req-1',
};

/** An access log writing into an array, one entry per line. */
function capture(settings: LogSettings): { lines: string[]; write: (r: AccessRecord) => void } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const log = createAccessLog(settings, destination);
  return { lines, write: (r) => log.write(r) };
}

describe('access log', () => {
  it('writes one JSON line per request in the envelope of the other lines: level, pid, timestamp, message, context', () => {
    const { lines, write } = capture({ format: 'json', level: 'log' });
    write(record);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    expect(line).toEqual({
      level: 'log',
      pid: process.pid,
      timestamp: expect.any(Number),
      context: 'access',
      message: { msg: 'request', ...record },
    });
  });

  it('logs probes at debug, so a probe each second does not fill the log at the default level', () => {
    expect(accessLevel({ route: '/ready', status: 200 })).toBe('debug');
    expect(accessLevel({ route: '/health', status: 503 })).toBe('debug');
    expect(accessLevel({ route: '/metrics', status: 200 })).toBe('debug');
    expect(accessLevel({ route: '/v1/batches', status: 404 })).toBe('info');
    expect(accessLevel({ route: null, status: 404 })).toBe('info');
    expect(accessLevel({ route: '/v1/batches', status: 500 })).toBe('error');

    const quiet = capture({ format: 'json', level: 'log' });
    quiet.write({ ...record, method: 'GET', route: '/ready', status: 200 });
    expect(quiet.lines).toEqual([]);
    const verbose = capture({ format: 'json', level: 'debug' });
    verbose.write({ ...record, method: 'GET', route: '/ready', status: 200 });
    expect(JSON.parse(verbose.lines[0])).toMatchObject({ level: 'debug', message: { route: '/ready' } });
  });

  it('counts as probes every path the shipped manifests probe or scrape', () => {
    // The Kubernetes probes (httpGet paths) and Prometheus scrape annotations, and the image's HEALTHCHECK: a path
    // added there and not here would log a line (and export a trace) every few seconds from every pod.
    const files = [
      ...readdirSync('deploy/k8s', { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join('deploy/k8s', f)),
      'deploy/healthcheck.mjs',
    ];
    const probed = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /httpGet: \{ path: (\/[\w/.-]*)|prometheus\.io\/path: (\/[\w/.-]*)|\/\$\{port\}(\/[\w/.-]*)/g,
      ))
        probed.add(m[1] ?? m[2] ?? m[3]);
    }
    expect([...probed].sort()).toEqual(['/health', '/metrics', '/ready/api']);
    for (const route of probed) expect([route, accessLevel({ route, status: 200 })]).toEqual([route, 'debug']);
  });

  it('writes a server error at error, and nothing below LOG_LEVEL', () => {
    const { lines, write } = capture({ format: 'json', level: 'error' });
    write(record);
    write({ ...record, status: 500 });
    expect(lines.map((l) => JSON.parse(l).level)).toEqual(['error']);
  });

  it('censors credential headers should a record ever carry headers', () => {
    const { lines, write } = capture({ format: 'json', level: 'log' });
    const headers = { authorization: 'Bearer sk-secret', 'x-api-key': 'sk-other', accept: 'application/json' };
    write({ ...record, headers } as AccessRecord);
    expect(lines[0]).not.toContain('sk-secret');
    expect(lines[0]).not.toContain('sk-other');
    expect(JSON.parse(lines[0]).message.headers).toEqual({
      authorization: '[redacted]',
      'x-api-key': '[redacted]',
      accept: 'application/json',
    });
  });

  it('prints one readable line on a terminal', () => {
    const { lines, write } = capture({ format: 'pretty', level: 'log' });
    write({ ...record, requestIdReplaced: true });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('POST /v1/batches 202 14.2ms key=k1 tenant=acme req=req-1 (request id replaced)');
    expect(() => JSON.parse(lines[0])).toThrow();
  });

  it('describes a request without a route or a key, cut short by its client', () => {
    expect(describeAccess({ ...record, route: null, keyId: null, tenant: null, aborted: true })).toBe(
      'POST (no route) 202 14.2ms key=- tenant=- req=req-1 (aborted)',
    );
  });
});

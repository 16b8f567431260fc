import { beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { metricsRegistry, resetMetrics } from '#libs/metrics';
import { AuditTrail } from './audit-trail.js';

/**
 * A Redis whose pipeline answers `exec` with `result` (or rejects with it); a lone XADD, sent without a pipeline,
 * answers as the first entry of it would.
 */
function redisAnswering(result: () => Promise<Array<[Error | null, unknown]> | null>): Redis {
  const xadd = async () => {
    const [[err, id]] = (await result()) ?? [[new Error('no reply'), null]];
    if (err) throw err;
    return id;
  };
  return { xadd, pipeline: () => ({ xadd: () => undefined, exec: result }) } as unknown as Redis;
}

const egress = {
  kind: 'egress' as const,
  batchId: 'b1',
  index: 0,
  itemId: 'doc-1',
  target: 'cloud' as const,
  provider: 'frontier',
  sensitivity: 'public' as const,
  reason: 'sent',
  at: '2026-01-01T00:00:00.000Z',
};

async function failures(kind: string): Promise<number | undefined> {
  const metric = metricsRegistry.getSingleMetric('switchyard_audit_write_failures_total');
  return (await metric?.get())?.values.find((v) => v.labels.kind === kind)?.value;
}

describe('AuditTrail write failures', () => {
  beforeEach(() => resetMetrics());

  it('are counted by kind and rethrown when Redis is unreachable', async () => {
    const trail = new AuditTrail(
      redisAnswering(() => Promise.reject(new Error('connection closed'))),
      't',
    );
    await expect(trail.record([egress, { ...egress, index: 1 }])).rejects.toThrow('connection closed');
    expect(await failures('egress')).toBe(2);
  });

  it('are counted when Redis refuses an entry, alone or among others', async () => {
    const trail = new AuditTrail(
      redisAnswering(() => Promise.resolve([[new Error('OOM'), null]])),
      't',
    );
    await expect(trail.record([egress])).rejects.toThrow('OOM');
    expect(await failures('egress')).toBe(1);
    const among = new AuditTrail(
      redisAnswering(() =>
        Promise.resolve([
          [null, '1-0'],
          [new Error('OOM'), null],
        ]),
      ),
      't',
    );
    await expect(among.record([egress, { ...egress, index: 1 }])).rejects.toThrow('OOM');
    expect(await failures('egress')).toBe(3);
  });

  it('are not counted when every entry is written (the series is there, at 0, for the first failure to increase)', async () => {
    const trail = new AuditTrail(
      redisAnswering(() => Promise.resolve([[null, '1-0']])),
      't',
    );
    await trail.record([egress]);
    expect(await failures('egress')).toBe(0);
  });
});

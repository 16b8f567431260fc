import { describe, expect, it } from '@jest/globals';
import { CronExpressionParser } from 'cron-parser';
import { ensureGeneratedModel } from '#libs/gguf';
import { sleep } from './support/system-under-test.js';
import { useSystem } from './support/use-system.js';

/** Schedules on real processes: two workers, one API, the Job Schedulers in Redis. */
describe('schedules', () => {
  const template = {
    kind: 'document-processing',
    sensitivity: 'restricted',
    deadline: 'PT1H',
    task: { type: 'summarize', maxTokens: 8 },
    items: [{ id: 'nightly-report', text: 'Numbers of the day, to summarize every night.' }],
  };

  // A schedule every second (the default minimum is a minute) shows several slots in a few seconds.
  const sys = useSystem(
    async () => ({
      LOCAL_MODEL_PATH: await ensureGeneratedModel('tiny'),
      ESCALATION_INTERVAL_MS: '60000',
      SCHEDULE_MIN_INTERVAL_MS: '1000',
    }),
    { workers: 2 },
  );

  it.each([
    ['cron', { name: 'x', cron: 'every night', tz: 'UTC', batch: template }],
    ['tz', { name: 'x', cron: '0 2 * * *', batch: template }],
    ['tz', { name: 'x', cron: '0 2 * * *', tz: 'Mars/Olympus', batch: template }],
    ['every', { name: 'x', every: 10, batch: template }],
    ['batch.deadline', { name: 'x', every: 60_000, batch: { ...template, deadline: '2030-01-01T00:00:00Z' } }],
    ['batch.items[0].text', { name: 'x', every: 60_000, batch: { ...template, items: [{ id: 'x' }] } }],
    ['name', { name: 'no spaces please', every: 60_000, batch: template }],
  ])('rejects a schedule with a wrong %s, naming it', async (field, body) => {
    const res = await sys.client.request('POST', '/v1/schedules', body);
    expect(res.status).toBe(400);
    expect(res.json.field).toBe(field);
  });

  it('refuses a PUT whose body names another schedule than its path, and takes one that leaves the name out', async () => {
    // Yearly: it never fires (and so adds no batch) while these tests run.
    const refused = await sys.client.request('PUT', '/v1/schedules/put-target', {
      name: 'other',
      cron: '0 3 1 1 *',
      tz: 'UTC',
      batch: template,
    });
    expect([refused.status, refused.json.field]).toEqual([400, 'name']);
    expect((await sys.client.request('GET', '/v1/schedules/other')).status).toBe(404);
    expect((await sys.client.request('GET', '/v1/schedules/put-target')).status).toBe(404);
    const taken = await sys.client.request('PUT', '/v1/schedules/put-target', {
      cron: '0 3 1 1 *',
      tz: 'UTC',
      batch: template,
    });
    expect([taken.status, taken.json.name]).toEqual([200, 'put-target']);
    const same = await sys.client.request('PUT', '/v1/schedules/put-target', {
      name: 'put-target',
      cron: '0 4 1 1 *',
      tz: 'UTC',
      batch: template,
    });
    expect(same.status).toBe(200);
    expect((await sys.client.request('DELETE', '/v1/schedules/put-target')).status).toBe(200);
  });

  it('computes the next run of a nightly cron schedule in its time zone', async () => {
    const res = await sys.client.request('POST', '/v1/schedules', {
      name: 'nightly-paris',
      cron: '0 2 * * *',
      tz: 'Europe/Paris',
      batch: template,
    });
    expect(res.status).toBe(201);
    const expected = CronExpressionParser.parse('0 2 * * *', { tz: 'Europe/Paris', currentDate: new Date() })
      .next()
      .toDate()
      .getTime();
    expect(Date.parse(res.json.nextRunAt)).toBe(expected);
    const listed = await sys.client.request('GET', '/v1/schedules');
    expect(listed.json.schedules.map((s: any) => s.name)).toContain('nightly-paris');
    expect((await sys.client.request('DELETE', '/v1/schedules/nightly-paris')).status).toBe(200);
    expect((await sys.client.request('GET', '/v1/schedules/nightly-paris')).status).toBe(404);
  });

  it('fires each slot exactly once with two workers running, each firing an ordinary batch', async () => {
    const created = await sys.client.request('POST', '/v1/schedules', {
      name: 'every-second',
      every: 1000,
      batch: template,
    });
    expect(created.status).toBe(201);
    await sleep(5500);
    expect((await sys.client.request('DELETE', '/v1/schedules/every-second')).status).toBe(200);
    await sleep(300); // a firing already taken finishes
    const batches = (await sys.client.request('GET', '/v1/batches?limit=500')).json.batches;
    // Every slot made one batch, and nothing else made any.
    const slots = new Set(
      sys.workers.flatMap((w) =>
        [...w.output.join('').matchAll(/"msg":"schedule fired","schedule":"every-second","slot":"([^"]+)"/g)].map(
          (m) => m[1],
        ),
      ),
    );
    const firings = sys.workers.flatMap((w) => [
      ...w.output.join('').matchAll(/"msg":"schedule fired","schedule":"every-second"/g),
    ]);
    expect(slots.size).toBeGreaterThanOrEqual(4);
    // Each slot is the time its firing was due, `every` apart, not when BullMQ made its job.
    const times = [...slots].map((s) => Date.parse(s)).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) expect((times[i] - times[0]) % 1000).toBe(0);
    expect(firings).toHaveLength(slots.size);
    expect(batches).toHaveLength(slots.size);
    // Two workers were competing for every slot the whole time (which one wins each slot is up to BullMQ).
    const pools = (await sys.client.request('GET', '/v1/pools')).json.pools;
    expect(new Set(pools.map((p: any) => p.pid)).size).toBe(2);
    expect(sys.workers.every((w) => w.running)).toBe(true);
    for (const b of batches) expect((await sys.client.waitFinished(b.id)).status).toBe('completed');
  });
});

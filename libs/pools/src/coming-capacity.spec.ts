import { describe, expect, it } from '@jest/globals';
import { modelCapacity, poolGraceMs, type ModelCapacityInput } from './coming-capacity.js';
import type { PoolHeartbeat } from './pool-registry.js';

const NOW = 1_700_000_000_000;
const SECOND = 1000;

const hb = (over: Partial<PoolHeartbeat>): PoolHeartbeat => ({
  id: 'gpu-1:10:inference-local.llama',
  target: 'local',
  provider: 'llama',
  model: 'llama',
  queue: 'inference-local.llama',
  host: 'gpu-1',
  pid: 10,
  device: 'cuda',
  deviceNames: [],
  memory: null,
  modelBytes: null,
  status: 'consuming',
  reason: '',
  sequences: 8,
  activeSequences: 8,
  busy: 0,
  startedAt: NOW - 3600 * SECOND,
  at: NOW,
  ...over,
});

const capacity = (over: Partial<ModelCapacityInput>) =>
  modelCapacity({
    model: 'llama',
    live: [],
    seen: [],
    loadMs: 60 * SECOND,
    graceMs: 180 * SECOND,
    startedAt: NOW - 3600 * SECOND,
    now: NOW,
    ...over,
  });

describe('capacity that is coming', () => {
  it('a model with a consuming pool is up', () => {
    const up = hb({});
    expect(capacity({ live: [up], seen: [up] }).state).toBe('up');
  });

  it('a loading pool is coming at the ready time it announced, for its grace after that', () => {
    const loading = hb({
      status: 'loading',
      sequences: 0,
      startedAt: NOW - 10 * SECOND,
      expectedReadyAt: NOW + 50 * SECOND,
    });
    expect(capacity({ live: [loading], seen: [loading] })).toMatchObject({
      state: 'loading',
      readyAt: NOW + 50 * SECOND,
      graceUntil: NOW + 230 * SECOND,
    });
    expect(capacity({ live: [loading], seen: [loading], now: NOW + 231 * SECOND }).state).toBe('down');
  });

  it('a restarting pool is coming with the sequences it ran, until the grace from its stop runs out', () => {
    const restarting = hb({ status: 'restarting', expectedReadyAt: NOW + 60 * SECOND });
    expect(capacity({ live: [restarting], seen: [restarting] })).toMatchObject({
      state: 'restarting',
      readyAt: NOW + 60 * SECOND,
      sequences: 8,
    });
    expect(capacity({ live: [], seen: [restarting], now: NOW + 181 * SECOND }).state).toBe('down');
  });

  it('a restarting pool past its expected ready time is expected no sooner than the end of its grace', () => {
    const restarting = hb({ status: 'restarting', at: NOW - 70 * SECOND, expectedReadyAt: NOW - 10 * SECOND });
    expect(capacity({ live: [restarting], seen: [restarting] })).toMatchObject({
      state: 'restarting',
      readyAt: NOW + 110 * SECOND,
    });
  });

  it('a restart is over once a pool of the model started after it: its word no longer counts', () => {
    const old = hb({ id: 'old', status: 'restarting', at: NOW - 60 * SECOND, expectedReadyAt: NOW });
    const replacement = hb({ id: 'new', at: NOW - 5 * SECOND, startedAt: NOW - 30 * SECOND });
    expect(capacity({ live: [old], seen: [old, replacement] })).toMatchObject({
      state: 'gone',
      since: NOW - 5 * SECOND,
    });
  });

  it('a pool that stopped beating counts as gone-but-coming for the grace, from its end, then the model is down', () => {
    const last = hb({ at: NOW - 20 * SECOND });
    expect(capacity({ seen: [last] })).toMatchObject({ state: 'gone', readyAt: NOW + 160 * SECOND });
    expect(capacity({ seen: [last], now: NOW + 161 * SECOND })).toMatchObject({
      state: 'down',
      since: NOW - 20 * SECOND,
    });
  });

  it('a configured model never seen is expected from start-up for the grace (a fresh start before the worker says anything)', () => {
    expect(capacity({ startedAt: NOW - 5 * SECOND })).toMatchObject({ state: 'starting', readyAt: NOW + 55 * SECOND });
    expect(capacity({ startedAt: NOW - 181 * SECOND }).state).toBe('down');
  });

  it('a pool that does not fit, or whose model file cannot be loaded, is never coming', () => {
    const misfit = hb({ status: 'does-not-fit', sequences: 0 });
    expect(capacity({ live: [misfit], seen: [misfit] }).state).toBe('down');
    // Stopped beating since: a restart loads the same file and fails the same way.
    const broken = hb({ status: 'failed', sequences: 0 });
    expect(capacity({ live: [], seen: [broken] }).state).toBe('down');
  });

  it('the grace is POOL_GRACE_MS when set, else three loads and at least 30 s', () => {
    expect(poolGraceMs({ graceMs: 5000, loadEstimateMs: 60_000 }, 90_000)).toBe(5000);
    expect(poolGraceMs({ graceMs: null, loadEstimateMs: 60_000 }, 90_000)).toBe(270_000);
    expect(poolGraceMs({ graceMs: null, loadEstimateMs: 60_000 }, 1000)).toBe(30_000);
  });
});

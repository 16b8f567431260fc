import { defineScript, globalKeyPrefix, redisScript, type RedisClient } from '#libs/redis';
import { NextCall } from './next-call.js';

/**
 * closed → open after `failureThreshold` consecutive failures; open → half-open once `openMs` has
 * passed, when exactly one probe request is let through; the probe's success closes the circuit, its
 * failure opens it again for another `openMs`.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export type Admission = 'pass' | 'probe' | 'refused';

export interface Circuit {
  state: CircuitState;
  failures: number;
  openedAt: number | null;
}

export interface CircuitSettings {
  failureThreshold: number;
  openMs: number;
  /**
   * How long this process trusts a closed circuit it read or wrote: admit() passes without a round trip
   * until then. 0: every admit asks Redis.
   */
  closedViewMs?: number;
}

/**
 * KEYS[1] circuit hash. ARGV[1] event ('failure' | 'success' | 'admit'), ARGV[2] now, ARGV[3] threshold,
 * ARGV[4] openMs. Returns {state, failures, openedAt, admitted}.
 */
const CIRCUIT_LUA = `
local h = redis.call('HMGET', KEYS[1], 'failures', 'openedAt', 'probeAt')
local failures = tonumber(h[1]) or 0
local openedAt = tonumber(h[2])
local probeAt = tonumber(h[3])
local now, threshold, openMs = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = 'closed'
if openedAt then
  if now - openedAt >= openMs then state = 'half-open' else state = 'open' end
end
local admitted = 0
if ARGV[1] == 'success' then
  redis.call('DEL', KEYS[1])
  return {'closed', 0, -1, 1}
elseif ARGV[1] == 'failure' then
  failures = failures + 1
  if state == 'half-open' or (state == 'closed' and failures >= threshold) or state == 'open' then
    if state ~= 'open' then openedAt = now end
    state = 'open'
    redis.call('HSET', KEYS[1], 'failures', failures, 'openedAt', openedAt)
    redis.call('HDEL', KEYS[1], 'probeAt')
  else
    redis.call('HSET', KEYS[1], 'failures', failures)
  end
elseif ARGV[1] == 'admit' then
  if state == 'closed' then admitted = 1
  elseif state == 'half-open' and (not probeAt or now - probeAt >= openMs) then
    redis.call('HSET', KEYS[1], 'probeAt', now)
    admitted = 1
  end
end
return {state, failures, openedAt or -1, admitted}
`;

const CIRCUIT = redisScript<
  'circuit',
  readonly [event: string, now: string, failureThreshold: string, openMs: string],
  [CircuitState, number, number, number]
>({ name: 'syCircuit', keys: ['circuit'], lua: CIRCUIT_LUA });

/** Circuit breakers shared by every worker and API replica through Redis, one per provider, updated atomically. */
export class CircuitRegistry {
  private readonly circuitScript;
  /** Per provider: successes asked for while one is being written share the next write (NextCall). */
  private readonly successes = new Map<string, NextCall<Circuit>>();
  /**
   * Per provider: when (by the caller's clock) this process last saw its circuit closed, in the reply of any
   * call here. Dropped by any reply that is not closed, so this process's own failures count at once; another
   * process's are seen within closedViewMs (issue 17: the admit was one round trip per call).
   */
  private readonly closedAt = new Map<string, number>();

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly settings: CircuitSettings,
  ) {
    this.circuitScript = defineScript(redis, CIRCUIT);
  }

  /** The circuit as of now (reading it never admits a probe). */
  async get(provider: string, now = Date.now()): Promise<Circuit> {
    return (await this.run(provider, 'read', now)).circuit;
  }

  /**
   * Whether a request may go out now: 'pass' while the circuit is closed; 'probe' for the one caller let
   * through a half-open circuit, which is to find out whether the provider is back (and record the answer)
   * before anything else is sent; 'refused' otherwise.
   */
  async admit(provider: string, now = Date.now()): Promise<Admission> {
    const seen = this.closedAt.get(provider);
    if (seen !== undefined && now >= seen && now - seen < (this.settings.closedViewMs ?? 0)) return 'pass';
    const { circuit, admitted } = await this.run(provider, 'admit', now);
    if (!admitted) return 'refused';
    return circuit.state === 'half-open' ? 'probe' : 'pass';
  }

  /**
   * A call answered: the circuit closes and its failures are forgotten. Every success clears it alike, so
   * successes of calls that finish together share one write; each lands after its call answered, so a failure
   * recorded before a success is cleared by it, as one by one.
   */
  async recordSuccess(provider: string): Promise<Circuit> {
    let next = this.successes.get(provider);
    if (!next) {
      next = new NextCall(async () => (await this.run(provider, 'success', Date.now())).circuit);
      this.successes.set(provider, next);
    }
    return next.run();
  }

  async recordFailure(provider: string, now = Date.now()): Promise<Circuit> {
    return (await this.run(provider, 'failure', now)).circuit;
  }

  /**
   * One failure that says by itself the route is out (a flex tier's "resource unavailable", issue 16 §3): the
   * circuit opens now, whatever the threshold, and is probed again after openMs like any other.
   */
  async trip(provider: string, now = Date.now()): Promise<Circuit> {
    return (await this.run(provider, 'failure', now, 1)).circuit;
  }

  private async run(
    provider: string,
    event: string,
    now: number,
    threshold = this.settings.failureThreshold,
  ): Promise<{ circuit: Circuit; admitted: boolean }> {
    const [state, failures, openedAt, admitted] = await this.circuitScript(
      { circuit: `${globalKeyPrefix(this.prefix)}:circuit:${provider}` },
      [event, String(now), String(threshold), String(this.settings.openMs)],
    );
    if (state === 'closed') this.closedAt.set(provider, now);
    else this.closedAt.delete(provider);
    return {
      circuit: { state, failures: Number(failures), openedAt: Number(openedAt) < 0 ? null : Number(openedAt) },
      admitted: Number(admitted) === 1,
    };
  }
}

import { SENSITIVITY_LEVELS, type Sensitivity } from '#libs/domain';
import { randomUUID } from 'node:crypto';
import type { Random } from '../routing/random.js';
import type { ApiClient } from '../../test/support/system-under-test.js';
import { markerFor, markersOf, type Ledger } from './ledger.js';

const PROSE = [
  'The committee reviewed the quarterly figures and asked for a revised forecast.',
  'Shipping delays eased in the second half, while warehouse costs kept rising.',
  'The migration plan moves every service to the new queue before the summer.',
  'Customer interviews point to onboarding as the main source of churn.',
];

/**
 * A summarize batch (free text: the random-weight local model's answers pass its check, so local items
 * complete rather than fail) whose every item starts with its marker. P1D deadlines: nothing is at risk,
 * so where an item runs is decided by clearance and price alone.
 */
export function documentBatch(ledger: Ledger, rng: Random, sensitivity: Sensitivity, items: number, maxTokens: number) {
  const b = ledger.nextBatchNumber();
  return {
    kind: 'document-processing',
    sensitivity,
    deadline: 'P1D',
    task: { type: 'summarize', maxTokens },
    items: Array.from({ length: items }, (_, i) => ({
      id: `doc-${i}`,
      text: `${markerFor(ledger.run, b, i)}: ${Array.from({ length: rng.int(1, 4) }, () => PROSE[rng.int(0, PROSE.length - 1)]).join(' ')}`,
    })),
  };
}

export function randomSensitivity(rng: Random): Sensitivity {
  return SENSITIVITY_LEVELS[rng.int(0, SENSITIVITY_LEVELS.length - 1)];
}

/**
 * Submits like a careful client: one Idempotency-Key per batch, retried on 5xx or no answer until
 * `timeoutMs` (so a submission cut short by a Redis crash is finished by the retry, never doubled).
 * Returns the batch id once accepted, or null when the API refused it (4xx) or never answered.
 */
export async function submit(
  client: ApiClient,
  ledger: Ledger,
  phase: string,
  body: unknown,
  timeoutMs = 60_000,
): Promise<string | null> {
  const key = randomUUID();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await client.request('POST', '/v1/batches', body, { 'idempotency-key': key }).catch(() => null);
    if (res && res.status === 202) {
      ledger.accept(res.json.id, phase, markersOf(body));
      return res.json.id;
    }
    if (res && res.status < 500) {
      ledger.refuse(markersOf(body));
      return null;
    }
    if (Date.now() > deadline) {
      ledger.refuse(markersOf(body));
      return null;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

import { describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '#libs/audit';
import type { BatchCallbacks, BatchStore } from '#libs/batches';
import { CallbackRefused, type CallbackDelivery, type CallbackSecrets } from '#libs/callbacks';
import type { BatchView } from '#libs/domain';
import { InMemoryJobQueue, PermanentJobError } from '#libs/queue';
import { CallbackDeliverer } from './callback-deliverer.js';

const batch = {
  id: 'b1',
  status: 'completed',
  sensitivity: 'internal',
  tenant: 'acme',
  finishedAt: '2026-12-03T09:00:00.000Z',
  callback: { url: 'https://hooks.example.com/x', events: ['batch.finished'] },
} as unknown as BatchView;

function deliverer(answer: (d: CallbackDelivery) => Promise<{ status: number; ok: boolean }>) {
  const audit: AuditEvent[] = [];
  const sent: CallbackDelivery[] = [];
  const d = new CallbackDeliverer({
    jobs: new InMemoryJobQueue(),
    store: { get: async () => batch, item: async () => null } as unknown as BatchStore,
    callbacks: {} as BatchCallbacks,
    secrets: { get: async (tenant: string | null) => `whsec_${tenant}` } as unknown as CallbackSecrets,
    sender: {
      send: (delivery: CallbackDelivery) => {
        sent.push(delivery);
        return answer(delivery);
      },
    },
    audit: { record: async (events) => void audit.push(...events) },
  });
  return { d, audit, sent };
}

const job = { data: { batchId: 'b1', event: 'batch.finished' as const }, attempt: 3 };

describe('CallbackDeliverer', () => {
  it("signs with the batch tenant's secret and records the delivered attempt", async () => {
    const { d, audit, sent } = deliverer(async () => ({ status: 204, ok: true }));
    expect(await d.deliver(job)).toEqual({ delivered: 204 });
    expect(sent[0]).toMatchObject({ eventId: 'evt.b1.batch', secret: 'whsec_acme', attempt: 3 });
    expect(audit).toEqual([
      expect.objectContaining({
        kind: 'callback',
        batchId: 'b1',
        index: -1,
        provider: 'callback:hooks.example.com',
        eventId: 'evt.b1.batch',
        attempt: 3,
        httpStatus: 204,
        reason: 'delivered',
      }),
    ]);
  });

  it('throws on a 500 so the queue retries it, after recording the attempt', async () => {
    const { d, audit } = deliverer(async () => ({ status: 500, ok: false }));
    await expect(d.deliver(job)).rejects.toThrow(/answered 500/);
    expect(audit[0]).toMatchObject({ httpStatus: 500, reason: 'receiver answered 500' });
  });

  it('fails for good when the host resolves to a refused address', async () => {
    const { d, audit } = deliverer(async () => {
      throw new CallbackRefused('callback host x: 10.0.0.1 is a loopback, private or link-local address');
    });
    await expect(d.deliver(job)).rejects.toBeInstanceOf(PermanentJobError);
    expect(audit[0].reason).toMatch(/^not delivered: callback host x/);
    expect(audit[0].httpStatus).toBeUndefined();
  });
});

import { describe, expect, it } from '@jest/globals';
import { useSystem } from './support/use-system.js';

/**
 * Issue 13 §6: restricted data may leave only for an endpoint the operator declared on premises, and that
 * declaration is visible where a reviewer looks — the provider list and every audit entry for it.
 */
describe('a provider declared on premises (CLOUD_ON_PREMISES)', () => {
  const sys = useSystem(
    async ({ double }) => ({
      OPENAI_BASE_URL: double.url,
      OPENAI_API_KEY: 'test-key',
      CLOUD_PROVIDER_NAME: 'basement',
      CLOUD_MAX_SENSITIVITY: 'restricted',
      CLOUD_ON_PREMISES: 'true',
      MAX_OUTPUT_TOKENS: '32',
      // A slow local model and a fast endpoint: a short deadline sends the item to the endpoint.
      LOCAL_TOKENS_PER_SEC: '20',
      CLOUD_LATENCY_MS: '200',
      CLOUD_TOKENS_PER_SEC: '200',
    }),
    { double: { apiKey: 'test-key' } },
  );

  it('shows the declaration in /v1/providers and on every audit entry of a restricted item sent to it', async () => {
    const { json: listed } = await sys.client.request('GET', '/v1/providers');
    expect(listed.providers.find((p: { name: string }) => p.name === 'basement')).toMatchObject({
      clearance: 'restricted',
      onPremises: true,
    });

    const submitted = await sys.client.request('POST', '/v1/batches', {
      kind: 'document-processing',
      sensitivity: 'restricted',
      deadline: 'PT2S',
      task: { type: 'summarize', maxTokens: 16 },
      items: [{ id: 'doc-0', text: 'Board minutes: the merger closes in May. '.repeat(40) }],
    });
    expect(submitted.status).toBe(202);
    const batch = await sys.client.waitFinished(submitted.json.id);
    expect(batch.status).toBe('completed');
    expect(sys.double.completionRequests()).toHaveLength(1);

    const { json: audit } = await sys.client.request('GET', `/v1/audit?batchId=${submitted.json.id}`);
    const kinds = audit.entries.map((e: { kind: string }) => e.kind).sort();
    expect(kinds).toEqual(['egress', 'route']);
    for (const entry of audit.entries)
      expect(entry).toMatchObject({
        provider: 'basement',
        clearance: 'restricted',
        sensitivity: 'restricted',
        onPremises: true,
      });
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOpenAIDouble, type OpenAIDouble } from '../../../../test/support/openai-double.js';
import { ClearanceError, ProviderError, type CompletionRequest } from '../completion.js';
import { ApiKeyFile } from './api-key-source.js';
import { CloudProvider, PROBE_ITEM_REF, type CloudProviderOptions } from './cloud-provider.js';
import type { EgressAudit, EgressRecord } from './egress-audit.js';
import { OutputLimitField } from './output-limit-field.js';

const request = (overrides: Partial<CompletionRequest> = {}): CompletionRequest => ({
  itemRef: 'batch-1.4',
  sensitivity: 'internal',
  system: 'Answer briefly.',
  prompt: 'What is in the memo?',
  maxTokens: 64,
  ...overrides,
});

/** An audit sink that keeps what it is told, and can be made to fail. */
class RecordingAudit implements EgressAudit {
  readonly egress: EgressRecord[] = [];
  readonly refusals: Array<EgressRecord & { reason: string }> = [];
  failing = false;
  async beforeRequest(r: EgressRecord) {
    if (this.failing) throw new Error('redis down');
    this.egress.push(r);
  }
  async refused(r: EgressRecord & { reason: string }) {
    if (this.failing) throw new Error('redis down');
    this.refusals.push(r);
  }
}

describe('CloudProvider egress audit and key rotation (against the double)', () => {
  let double: OpenAIDouble;
  const providers: CloudProvider[] = [];
  const dirs: string[] = [];

  const provider = (overrides: Partial<CloudProviderOptions>) => {
    const p = new CloudProvider({
      name: 'frontier',
      baseURL: double.url,
      apiKey: 'key-a',
      model: 'double-model',
      clearance: 'internal',
      timeoutMs: 2000,
      maxRetries: 2,
      contextTokens: 128_000,
      ...overrides,
    });
    providers.push(p);
    return p;
  };

  beforeAll(async () => {
    double = await startOpenAIDouble({ apiKey: 'key-a' });
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    double.reset();
  });
  afterAll(() => double.close());

  it('records every request right before it leaves, retries included: as many records as requests the double saw', async () => {
    const audit = new RecordingAudit();
    double.failNext(2, { status: 503 });
    await provider({ audit }).complete(request());
    expect(double.completionRequests()).toHaveLength(3);
    expect(audit.egress.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(audit.egress[0]).toMatchObject({
      provider: 'frontier',
      clearance: 'internal',
      sensitivity: 'internal',
      itemRef: 'batch-1.4',
    });
    // The model each record names is the one its request did.
    expect(audit.egress.map((r) => r.model)).toEqual(
      double.completionRequests().map((r) => (r.body as { model: string }).model),
    );
    // Each record was made before its request arrived.
    audit.egress.forEach((r, i) => expect(Date.parse(r.at)).toBeLessThanOrEqual(double.completionRequests()[i].at));
    expect(JSON.stringify(audit.egress)).not.toContain('memo');
  });

  describe('probe() for a half-open circuit', () => {
    it('asks for one token about nothing, once, and records it in the audit as the circuit probe', async () => {
      const audit = new RecordingAudit();
      await provider({ audit }).probe();
      const [sent] = double.completionRequests();
      expect(double.completionRequests()).toHaveLength(1);
      expect(sent.body).toMatchObject({ model: 'double-model', max_tokens: 1 });
      expect(audit.egress).toEqual([
        expect.objectContaining({ provider: 'frontier', itemRef: PROBE_ITEM_REF, sensitivity: 'public', attempt: 1 }),
      ]);
    });

    it('fails at its own timeout, not the request timeout, and is not retried', async () => {
      double.failNext(1, { hang: true });
      const started = Date.now();
      const err = await provider({ timeoutMs: 10_000, probeTimeoutMs: 300 })
        .probe()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect(err).toMatchObject({ code: 'timeout', message: expect.stringContaining('300 ms') });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(double.completionRequests()).toHaveLength(1);
    });

    it('fails on a server error without retrying it', async () => {
      double.failNext(3, { status: 503 });
      await expect(provider({}).probe()).rejects.toMatchObject({ code: 'server_error' });
      expect(double.completionRequests()).toHaveLength(1);
    });

    it('sends nothing when the audit cannot record it', async () => {
      const audit = new RecordingAudit();
      audit.failing = true;
      await expect(provider({ audit }).probe()).rejects.toMatchObject({ code: 'audit_unavailable' });
      expect(double.requests).toHaveLength(0);
    });
  });

  it('records a refusal above clearance, and nothing leaves', async () => {
    const audit = new RecordingAudit();
    await expect(provider({ audit }).complete(request({ sensitivity: 'restricted' }))).rejects.toBeInstanceOf(
      ClearanceError,
    );
    expect(double.requests).toHaveLength(0);
    expect(audit.egress).toHaveLength(0);
    expect(audit.refusals).toEqual([
      expect.objectContaining({
        sensitivity: 'restricted',
        clearance: 'internal',
        reason: expect.stringContaining('refuses'),
      }),
    ]);
  });

  describe('what the request holds, read before it leaves', () => {
    const CARD = '4111 1111 1111 1111';

    it('a request marked public that holds a card number is refused by a provider cleared for internal: recorded as refused, categories only, nothing sent', async () => {
      const audit = new RecordingAudit();
      const err = await provider({ audit })
        .complete(request({ sensitivity: 'public', prompt: `Pay with ${CARD} by Friday.` }))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(ClearanceError);
      expect(err).toMatchObject({ code: 'clearance', retryable: false, sensitivity: 'confidential', found: ['card'] });
      expect((err as Error).message).not.toContain('4111');
      expect(double.requests).toHaveLength(0);
      expect(audit.egress).toHaveLength(0);
      expect(audit.refusals).toEqual([
        expect.objectContaining({
          sensitivity: 'confidential',
          clearance: 'internal',
          reason: expect.stringMatching(/card/),
        }),
      ]);
      expect(JSON.stringify(audit.refusals)).not.toContain('4111');
    });

    it("reads every part of the body, not only the messages: a card number in a structured answer's schema", async () => {
      const err = await provider({})
        .complete(
          request({
            sensitivity: 'public',
            jsonSchema: { type: 'object', properties: { n: { enum: [4111111111111111] } } },
          }),
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toMatchObject({ code: 'clearance', found: ['card'] });
      expect(double.requests).toHaveLength(0);
    });

    it('sends what its clearance covers: the card to a provider cleared for confidential, an email (internal) to one cleared for internal', async () => {
      await provider({ clearance: 'confidential' }).complete(
        request({ sensitivity: 'public', prompt: `Card ${CARD}.` }),
      );
      await provider({}).complete(request({ sensitivity: 'public', prompt: 'Write to ana@example.org today.' }));
      expect(double.completionRequests()).toHaveLength(2);
    });

    it('reads with the PII_RULES it is given: a category switched off raises nothing', async () => {
      const rules = {
        email: 'internal',
        phone: 'internal',
        iban: 'confidential',
        card: false,
        'national-id': 'restricted',
      } as const;
      await provider({ piiRules: rules }).complete(request({ sensitivity: 'public', prompt: `Card ${CARD}.` }));
      expect(double.completionRequests()).toHaveLength(1);
    });
  });

  it('sends nothing when the request cannot be recorded', async () => {
    const audit = new RecordingAudit();
    audit.failing = true;
    const err = await provider({ audit, maxRetries: 0 })
      .complete(request())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: 'audit_unavailable', retryable: true });
    expect(double.requests).toHaveLength(0);
    // A refusal is still a refusal when its record fails.
    await expect(provider({ audit }).complete(request({ sensitivity: 'restricted' }))).rejects.toBeInstanceOf(
      ClearanceError,
    );
  });

  it('uses a rotated key file from the very next request, without a new provider', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-key-'));
    dirs.push(dir);
    const path = join(dir, 'key');
    writeFileSync(path, 'key-a\n');
    const reloads: string[] = [];
    const p = provider({ apiKey: await ApiKeyFile.open(path, { onReload: (f) => reloads.push(f) }) });
    await p.complete(request());
    // Rotate the way secret managers do: write a new file, rename it over the old one.
    writeFileSync(join(dir, 'key.new'), 'key-b\n');
    renameSync(join(dir, 'key.new'), path);
    double.acceptKeys(['key-b']);
    await p.complete(request());
    // A non-atomic write caught mid-way (empty file) keeps the current key.
    writeFileSync(path, '');
    await p.complete(request());
    expect(double.completionRequests().map((r) => r.headers.authorization)).toEqual([
      'Bearer key-a',
      'Bearer key-b',
      'Bearer key-b',
    ]);
    expect(reloads).toEqual([path]);
  });

  it('refuses to open an empty or missing key file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-key-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'empty'), '  \n');
    await expect(ApiKeyFile.open(join(dir, 'empty'))).rejects.toThrow(/empty/);
    await expect(ApiKeyFile.open(join(dir, 'missing'))).rejects.toThrow();
  });

  describe("a model that refuses max_tokens (OpenAI's reasoning models: o1, o3, gpt-5)", () => {
    const caps = () =>
      double.completionRequests().map((r) => ({
        max_tokens: r.body.max_tokens as number | undefined,
        max_completion_tokens: r.body.max_completion_tokens as number | undefined,
      }));

    it('gets the request again at once with max_completion_tokens, recorded again before it leaves, and keeps that field', async () => {
      double.setHabits({ refuseMaxTokens: true });
      const audit = new RecordingAudit();
      const frontier = provider({ audit, maxRetries: 0 });

      const first = await frontier.complete(request());
      const second = await frontier.complete(request({ itemRef: 'batch-1.5', maxTokens: 32 }));

      expect(first.text).not.toBe('');
      expect(second.text).not.toBe('');
      expect(caps()).toEqual([
        { max_tokens: 64, max_completion_tokens: undefined },
        { max_tokens: undefined, max_completion_tokens: 64 },
        { max_tokens: undefined, max_completion_tokens: 32 },
      ]);
      expect(audit.egress.map((r) => r.itemRef)).toEqual(['batch-1.4', 'batch-1.4', 'batch-1.5']);
    });

    it("the provider's other tiers share what one learned: the flex tier and the circuit probe send max_completion_tokens from their first request", async () => {
      double.setHabits({ refuseMaxTokens: true });
      const outputLimit = new OutputLimitField();
      await provider({ outputLimit }).complete(request());
      await provider({ outputLimit, serviceTier: 'flex' }).complete(request());
      await provider({ outputLimit }).probe();

      expect(caps().slice(1)).toEqual([
        { max_tokens: undefined, max_completion_tokens: 64 },
        { max_tokens: undefined, max_completion_tokens: 64 },
        { max_tokens: undefined, max_completion_tokens: 1 },
      ]);
    });

    it('a probe is the first request: it learns the field too, and the item after it is sent once', async () => {
      double.setHabits({ refuseMaxTokens: true });
      const frontier = provider({});
      await frontier.probe();
      await frontier.complete(request());
      expect(caps()).toEqual([
        { max_tokens: 1, max_completion_tokens: undefined },
        { max_tokens: undefined, max_completion_tokens: 1 },
        { max_tokens: undefined, max_completion_tokens: 64 },
      ]);
    });

    it('other 400s are not sent again, and a server that takes max_tokens keeps getting it', async () => {
      double.failNext(1, { status: 400 });
      const frontier = provider({ maxRetries: 2 });
      await expect(frontier.complete(request())).rejects.toMatchObject({ code: 'bad_request' });
      await frontier.complete(request());
      expect(caps()).toEqual([
        { max_tokens: 64, max_completion_tokens: undefined },
        { max_tokens: 64, max_completion_tokens: undefined },
      ]);
    });
  });
});

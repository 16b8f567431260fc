import { describe, expect, it } from '@jest/globals';
import { linkSignals } from './linked-signal.js';

describe('the signal a local completion runs under', () => {
  it("aborts with the request's reason when the request aborts", () => {
    const request = new AbortController();
    const { signal } = linkSignals(request.signal, new AbortController().signal);
    request.abort('caller gave up');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('caller gave up');
  });

  it("aborts with the shutdown's reason when the provider closes, with or without a request signal", () => {
    const shutdown = new AbortController();
    const withRequest = linkSignals(new AbortController().signal, shutdown.signal);
    const alone = linkSignals(undefined, shutdown.signal);
    shutdown.abort('closed');
    expect(withRequest.signal.reason).toBe('closed');
    expect(alone.signal.reason).toBe('closed');
  });

  it('starts aborted when a source already is', () => {
    const request = new AbortController();
    request.abort('too late');
    expect(linkSignals(request.signal, new AbortController().signal).signal.reason).toBe('too late');
  });

  it('no longer follows the shutdown once detached, so finished completions leave nothing on it', () => {
    const shutdown = new AbortController();
    const { signal, detach } = linkSignals(undefined, shutdown.signal);
    detach();
    shutdown.abort('closed');
    expect(signal.aborted).toBe(false);
  });
});

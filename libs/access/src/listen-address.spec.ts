import { describe, expect, it } from '@jest/globals';
import { addressedToLoopback, listenPlan, writeFromAnotherSite } from './listen-address.js';

describe('listenPlan', () => {
  it('keeps an open API (no key anywhere) on loopback whatever HOST says, and says so', () => {
    const plan = listenPlan('0.0.0.0', false);
    expect(plan).toMatchObject({ host: '127.0.0.1', open: true });
    expect(plan.warning).toMatch(/OPEN.*127\.0\.0\.1 only.*HOST=0\.0\.0\.0 is ignored/);
    expect(listenPlan('127.0.0.1', false).warning).not.toMatch(/ignored/);
  });

  it('honours HOST once auth is configured', () => {
    expect(listenPlan('0.0.0.0', true)).toEqual({ host: '0.0.0.0', open: false, warning: null });
  });
});

describe('addressedToLoopback', () => {
  it('takes the names and addresses of loopback, with or without a port', () => {
    for (const host of [
      '127.0.0.1',
      '127.0.0.1:3000',
      '127.1.2.3:80',
      'localhost',
      'LOCALHOST:3000',
      'localhost.:3000',
      'api.localhost:3000',
      '[::1]',
      '[::1]:3000',
      undefined,
    ])
      expect([host, addressedToLoopback(host)]).toEqual([host, true]);
  });

  it('refuses every other name, a name that only starts like loopback included (what DNS rebinding sends)', () => {
    for (const host of [
      'evil.example',
      'evil.example:3000',
      '127.0.0.1.nip.io:3000',
      'localhost.evil.example',
      '127.0.0.256',
      '0.0.0.0:3000',
      '10.0.0.5:3000',
      '[::ffff:7f00:1]:3000',
      '[fe80::1]:3000',
      'switchyard.internal',
    ])
      expect([host, addressedToLoopback(host)]).toEqual([host, false]);
  });
});

describe('writeFromAnotherSite', () => {
  it('marks a write a browser sends from another site: by Sec-Fetch-Site, or by an Origin that is not loopback', () => {
    expect(writeFromAnotherSite({ method: 'POST', fetchSite: 'cross-site' })).toBe(true);
    expect(writeFromAnotherSite({ method: 'DELETE', origin: 'https://evil.example' })).toBe(true);
    expect(writeFromAnotherSite({ method: 'post', origin: 'http://127.0.0.1.nip.io:3000' })).toBe(true);
    expect(writeFromAnotherSite({ method: 'POST', origin: 'null' })).toBe(true);
  });

  it('lets reads, loopback pages and clients that are not browsers through', () => {
    expect(writeFromAnotherSite({ method: 'GET', fetchSite: 'cross-site', origin: 'https://evil.example' })).toBe(
      false,
    );
    expect(writeFromAnotherSite({ method: 'POST' })).toBe(false);
    expect(writeFromAnotherSite({ method: 'POST', fetchSite: 'same-origin', origin: 'http://127.0.0.1:3000' })).toBe(
      false,
    );
    expect(writeFromAnotherSite({ method: 'POST', fetchSite: 'same-site', origin: 'http://localhost:5173' })).toBe(
      false,
    );
    expect(writeFromAnotherSite({ method: 'PATCH', origin: 'http://[::1]:3000' })).toBe(false);
  });
});

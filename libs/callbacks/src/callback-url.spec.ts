import { describe, expect, it } from '@jest/globals';
import { CallbackAddressGuard } from './callback-address.js';
import { callbackUrlProblem } from './callback-url.js';

describe('callbackUrlProblem', () => {
  const strict = new CallbackAddressGuard();

  it('takes a public http or https URL', () => {
    expect(callbackUrlProblem('https://hooks.example.com/switchyard?team=7', strict)).toBeNull();
    expect(callbackUrlProblem('http://93.184.216.34:8080/hook', strict)).toBeNull();
  });

  it('refuses other schemes, relative URLs and credentials in the URL', () => {
    expect(callbackUrlProblem('ftp://example.com/x', strict)).toMatch(/http or https/);
    expect(callbackUrlProblem('file:///etc/passwd', strict)).toMatch(/http or https/);
    expect(callbackUrlProblem('/hooks', strict)).toMatch(/absolute/);
    expect(callbackUrlProblem('https://user:pw@example.com/hook', strict)).toMatch(/credentials/);
    expect(callbackUrlProblem('https://token@example.com/hook', strict)).toMatch(/credentials/);
  });

  it('refuses loopback, private, link-local and mapped addresses unless an allowed network holds them', () => {
    for (const url of [
      'http://127.0.0.1:9000/',
      'http://localhost/hook',
      'http://api.localhost/hook',
      'http://10.2.3.4/',
      'http://192.168.1.1/',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[fd00::1]/',
      'http://0.0.0.0/',
      // IPv4 carried to a translator: NAT64 (well-known and local-use prefixes), 6to4, IPv4-compatible.
      'http://[64:ff9b::a00:5]/',
      'http://[64:ff9b::169.254.169.254]/',
      'http://[64:ff9b:1::7f00:1]/',
      'http://[2002:a9fe:a9fe::1]/',
      'http://[::10.0.0.5]/',
    ]) {
      expect(callbackUrlProblem(url, strict)).toMatch(/loopback, private or link-local/);
    }
    // A public IPv4 address through NAT64 is a public address (IPv6-only clusters reach the internet so).
    expect(callbackUrlProblem('http://[64:ff9b::808:808]/', strict)).toBeNull();
    expect(callbackUrlProblem('http://[2002:808:808::1]/', strict)).toBeNull();
    expect(callbackUrlProblem('http://[2001:db8::1]/', strict)).toBeNull();
    const loopback = new CallbackAddressGuard(['127.0.0.0/8']);
    expect(callbackUrlProblem('http://127.0.0.1:9000/', loopback)).toBeNull();
    expect(callbackUrlProblem('http://localhost/hook', loopback)).toBeNull();
    expect(callbackUrlProblem('http://10.2.3.4/', loopback)).toMatch(/private/);
  });

  it('names a malformed allowed network at start-up', () => {
    expect(() => new CallbackAddressGuard(['10.0.0.0/99'])).toThrow(/CALLBACK_ALLOWED_NETWORKS: 10.0.0.0\/99/);
    expect(() => new CallbackAddressGuard(['intranet'])).toThrow(/CALLBACK_ALLOWED_NETWORKS/);
  });
});

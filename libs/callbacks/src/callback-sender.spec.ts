import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CallbackAddressGuard } from './callback-address.js';
import { CallbackRefused, CallbackSender } from './callback-sender.js';
import { verifySignature } from './callback-signature.js';

/** A loopback receiver: the guard is told to allow loopback where a test means it to arrive. */
describe('CallbackSender', () => {
  let server: Server;
  let port: number;
  const received: Array<{ headers: Record<string, unknown>; body: string }> = [];
  let answer = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(answer, answer === 302 ? { location: 'http://169.254.169.254/' } : {}).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const delivery = (url: string) => ({
    url,
    eventId: 'evt.b.batch',
    event: 'batch.finished',
    body: '{"id":"evt.b.batch"}',
    secret: 'whsec_t',
    attempt: 2,
  });

  it('posts the signed body with the event headers and answers the status', async () => {
    received.length = 0;
    answer = 200;
    const sender = new CallbackSender(new CallbackAddressGuard(['127.0.0.0/8']), 5000);
    expect(await sender.send(delivery(`http://localhost:${port}/hook`))).toEqual({ status: 200, ok: true });
    const [{ headers, body }] = received;
    expect(body).toBe('{"id":"evt.b.batch"}');
    expect(headers).toMatchObject({
      'switchyard-event-id': 'evt.b.batch',
      'switchyard-event': 'batch.finished',
      'switchyard-delivery-attempt': '2',
      'content-type': 'application/json',
    });
    expect(verifySignature({ secret: 'whsec_t', header: String(headers['switchyard-signature']), body })).toBe(true);
  });

  it('refuses a host name that resolves to loopback at connect time, sending nothing', async () => {
    received.length = 0;
    const sender = new CallbackSender(new CallbackAddressGuard(), 5000);
    await expect(sender.send(delivery(`http://localhost:${port}/hook`))).rejects.toBeInstanceOf(CallbackRefused);
    await expect(sender.send(delivery(`http://127.0.0.1:${port}/hook`))).rejects.toBeInstanceOf(CallbackRefused);
    expect(received).toEqual([]);
  });

  it('does not follow a redirect: it is not a 2xx', async () => {
    answer = 302;
    const sender = new CallbackSender(new CallbackAddressGuard(['127.0.0.0/8']), 5000);
    expect(await sender.send(delivery(`http://127.0.0.1:${port}/hook`))).toEqual({ status: 302, ok: false });
  });
});

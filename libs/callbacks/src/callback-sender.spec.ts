import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
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

  /**
   * Receivers that keep the connection busy: the socket's timeout is an idle one, so before the delivery had a
   * deadline of its own these held it (one of the worker's few) open for as long as they liked.
   */
  describe('a receiver that never finishes', () => {
    const sockets = new Set<Socket>();
    const timers: NodeJS.Timeout[] = [];
    afterAll(() => {
      timers.forEach(clearInterval);
      sockets.forEach((s) => s.destroy());
    });

    /** A raw TCP receiver: on the request, writes `head`, then `drip` every 100 ms. */
    async function trickling(head: string, drip: string): Promise<number> {
      const tcp = createTcpServer((socket) => {
        sockets.add(socket);
        socket.once('data', () => {
          socket.write(head);
          timers.push(setInterval(() => socket.writable && socket.write(drip), 100));
        });
      });
      await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
      tcp.unref();
      return (tcp.address() as AddressInfo).port;
    }

    it('is given up once the whole delivery takes longer than the timeout, though bytes keep coming', async () => {
      const slow = await trickling('HTTP/1.1 200', ' ');
      const sender = new CallbackSender(new CallbackAddressGuard(['127.0.0.0/8']), 800);
      const t0 = Date.now();
      await expect(sender.send(delivery(`http://127.0.0.1:${slow}/hook`))).rejects.toThrow('timed out after 800 ms');
      expect(Date.now() - t0).toBeLessThan(3_000);
    });

    it('counts its status as soon as it comes, without reading an endless body', async () => {
      const endless = await trickling('HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n', '1\r\nx\r\n');
      const sender = new CallbackSender(new CallbackAddressGuard(['127.0.0.0/8']), 800);
      expect(await sender.send(delivery(`http://127.0.0.1:${endless}/hook`))).toEqual({ status: 202, ok: true });
    });
  });
});

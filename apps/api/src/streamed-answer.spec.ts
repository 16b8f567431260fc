import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Response } from 'express';
import { afterEach, describe, expect, it } from '@jest/globals';
import { streamAnswer } from './streamed-answer.js';

/** A server whose one route streams `chunks` with streamAnswer; `finished` settles when the handler returns. */
async function serve(
  chunks: () => AsyncIterable<string>,
): Promise<{ server: Server; url: string; finished: Promise<void> }> {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    void streamAnswer(res as unknown as Response, chunks()).then(finish);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, finished };
}

describe('streamAnswer', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('writes every chunk at the pace the client reads, then ends', async () => {
    const lines = Array.from({ length: 2_000 }, (_, i) => `${JSON.stringify({ i, pad: 'x'.repeat(200) })}\n`);
    const s = await serve(async function* () {
      yield* lines;
    });
    server = s.server;
    const body = await new Promise<string>((resolve, reject) =>
      get(s.url, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
      }).on('error', reject),
    );
    expect(body).toBe(lines.join(''));
    await s.finished;
  });

  it('stops reading its source once the client has gone, though the socket was full', async () => {
    let pulled = 0;
    let closed = false;
    const s = await serve(async function* () {
      try {
        // Endless, as a huge batch is to a client that left after its first lines.
        for (;;) {
          pulled += 1;
          yield `${'y'.repeat(64 * 1024)}\n`;
        }
      } finally {
        closed = true;
      }
    });
    server = s.server;
    await new Promise<void>((resolve, reject) =>
      get(s.url, (res) => {
        res.pause(); // reads nothing: the server's writes fill the socket and wait for 'drain'
        setTimeout(() => {
          res.destroy();
          resolve();
        }, 200);
      }).on('error', reject),
    );
    await s.finished;
    expect(closed).toBe(true);
    const atClose = pulled;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pulled).toBe(atClose);
  });
});

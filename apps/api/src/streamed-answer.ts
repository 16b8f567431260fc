import type { Response } from 'express';

/**
 * Writes `chunks` to the answer as they come, at the pace the client reads them, then ends it. Stops reading
 * `chunks` (each a Redis page behind it) once the client has gone: a write to a closed socket returns false and
 * 'drain' never comes, so a loop waiting only for it held its reader, and the batch's pages, for ever.
 */
export async function streamAnswer(
  res: Response,
  chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
): Promise<void> {
  for await (const chunk of chunks) {
    if (res.writableEnded || res.destroyed) return;
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  if (!res.destroyed) res.end();
}

function drainedOrClosed(res: Response): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

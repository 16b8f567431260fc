import { lookup } from 'node:dns';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { CallbackAddressGuard } from './callback-address.js';
import { SIGNATURE_HEADER, signatureHeader } from './callback-signature.js';

export interface CallbackDelivery {
  url: string;
  eventId: string;
  event: string;
  /** The exact JSON sent: what the signature covers. */
  body: string;
  secret: string;
  /** Which attempt this is (1 = first), sent as Switchyard-Delivery-Attempt. */
  attempt: number;
}

/** The receiver answered; `ok` for 2xx. A redirect is not followed (it could point anywhere): it counts as a failure. */
export interface CallbackResponse {
  status: number;
  ok: boolean;
}

/** The callback's host resolved to an address callbacks may not reach: retrying will not help. */
export class CallbackRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallbackRefused';
  }
}

/**
 * POSTs one signed event. The connection's own DNS lookup checks every address it resolves against the
 * guard, so a host that resolves (or re-resolves: DNS rebinding) to an internal address is refused at
 * connect time, not only at submission. Node's http rather than fetch: fetch takes no lookup hook.
 */
export class CallbackSender {
  constructor(
    private readonly guard: CallbackAddressGuard,
    private readonly timeoutMs: number,
  ) {}

  send(d: CallbackDelivery, nowS = Math.floor(Date.now() / 1000)): Promise<CallbackResponse> {
    const url = new URL(d.url);
    // An IP literal is connected to without a lookup: checked here (the allowlist may have changed since submission).
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    const refusedLiteral = isIP(literal) ? this.guard.refusal(literal) : null;
    if (refusedLiteral) return Promise.reject(new CallbackRefused(`callback host: ${refusedLiteral}`));
    const guarded: LookupFunction = (hostname, options, callback) => {
      lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 4);
        const refused = addresses.map((a) => this.guard.refusal(a.address)).find((r) => r !== null);
        if (refused) return callback(new CallbackRefused(`callback host ${hostname}: ${refused}`), '', 4);
        if (options.all) return (callback as unknown as (e: null, a: typeof addresses) => void)(null, addresses);
        callback(null, addresses[0].address, addresses[0].family);
      });
    };
    const options: RequestOptions = {
      method: 'POST',
      lookup: guarded,
      // A connection of its own each time: a pooled socket would skip the lookup, so its check.
      agent: false,
      timeout: this.timeoutMs,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(d.body),
        'user-agent': 'Switchyard-Callbacks/1',
        [SIGNATURE_HEADER.toLowerCase()]: signatureHeader(d.secret, d.body, nowS),
        'switchyard-event-id': d.eventId,
        'switchyard-event': d.event,
        'switchyard-delivery-attempt': String(d.attempt),
      },
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      // The whole delivery, connect to status line, within timeoutMs: the socket's own timeout is an idle one, so a
      // receiver trickling a byte now and then held a delivery (one of the worker's few) open for ever.
      const deadline = setTimeout(
        () => req.destroy(new Error(`callback timed out after ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      const req = send(url, options, (res) => {
        clearTimeout(deadline);
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300 });
        // Only the status counts: the answer's body is not read, however long it is.
        res.destroy();
      });
      req.on('timeout', () => req.destroy(new Error(`callback timed out after ${this.timeoutMs} ms`)));
      req.on('error', (err) => {
        clearTimeout(deadline);
        reject(err);
      });
      req.end(d.body);
    });
  }
}

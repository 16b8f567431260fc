import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for an OpenTelemetry collector: an OTLP/HTTP receiver on loopback that takes JSON trace
 * exports (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`, POST /v1/traces) and keeps every span, and every body as
 * received, so a test can assert on a trace's shape and search all of it for what must not be there.
 */

export type AttributeValue = string | number | boolean | Array<string | number | boolean>;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP's span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** The exporting process's `service.name`. */
  service: string;
  /** The instrumentation scope (tracer) that made it. */
  scope: string;
  attributes: Record<string, AttributeValue>;
  events: Array<{ name: string; attributes: Record<string, AttributeValue> }>;
  status?: { code?: number; message?: string };
}

export const SpanKindCode = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
}

function valueOf(v: OtlpAnyValue): AttributeValue {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return (v.arrayValue?.values ?? []).map((x) => valueOf(x) as string | number | boolean);
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

export class OtlpReceiver {
  private readonly received: ReceivedSpan[] = [];
  private readonly rawBodies: string[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    readonly url: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => receiver.handle(req, res));
    return receiver;
  }

  /** Every span received so far. */
  spans(): ReceivedSpan[] {
    return [...this.received];
  }

  /** Every export body as it arrived: names, attributes, events, resources, all of it. */
  bodies(): string[] {
    return [...this.rawBodies];
  }

  /** Resolves with the spans once `check` returns something other than undefined for them; rejects after `timeoutMs`. */
  async waitFor<T>(check: (spans: ReceivedSpan[]) => T | undefined, timeoutMs: number): Promise<T> {
    const now = check(this.spans());
    if (now !== undefined) return now;
    return new Promise<T>((resolve, reject) => {
      const waiter = () => {
        const found = check(this.spans());
        if (found === undefined) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const names = this.received.map((s) => `${s.service}:${s.name}`);
        reject(new Error(`spans awaited not received within ${timeoutMs}ms; received: ${names.join(', ')}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !/json/.test(req.headers['content-type'] ?? '')) {
        res.writeHead(415, { 'content-type': 'application/json' }).end('{"message":"JSON traces only"}');
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      this.rawBodies.push(text);
      this.collect(JSON.parse(text));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  private collect(body: any): void {
    for (const rs of body.resourceSpans ?? []) {
      const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.received.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            kind: s.kind,
            service,
            scope: ss.scope?.name ?? '',
            attributes: attributesOf(s.attributes),
            events: (s.events ?? []).map((e: any) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
            status: s.status,
          });
        }
      }
    }
  }
}

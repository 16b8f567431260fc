/** An answer the API refused, said as the API said it: the status and, for bad input, the field. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly field: string | null,
    message: string,
  ) {
    // The API's messages often start with the field already ("items[0].text is required"): say it once.
    super(`${status} ${field && !message.startsWith(field) ? `${field}: ${message}` : message}`);
  }
}

/**
 * The CLI's HTTP client for one Switchyard API (SWITCHYARD_URL) with one key (SWITCHYARD_API_KEY), sent as
 * `Authorization: Bearer`. Plain fetch: the CLI has no dependency the API does not already have.
 */
export class SwitchyardClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {}

  async json<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.send(method, path, body, headers);
    const text = await res.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  /** The raw response (NDJSON results, a patch, an event stream), once the status says it is one. */
  async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(this.baseUrl.replace(/\/+$/, '') + path, {
      method,
      headers: {
        ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.ok) return res;
    throw await apiError(res);
  }
}

async function apiError(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const json = JSON.parse(text) as { field?: string; message?: string | string[] };
    const message = Array.isArray(json.message) ? json.message.join('; ') : (json.message ?? text);
    return new ApiError(res.status, json.field ?? null, message);
  } catch {
    return new ApiError(res.status, null, text || res.statusText);
  }
}

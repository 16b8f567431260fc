/** What fetchJson answers: the status and headers, the body as text, and as JSON when it parses (else null). */
export interface JsonAnswer {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/**
 * fetch, reading the whole body and parsing it as JSON when it is JSON. A body that does not parse gives
 * `json: null` rather than an error: the tests and the chaos fuzz assert on refusals, whose bodies may be anything.
 * Shared by the e2e ApiClient and bench/chaos (test/support is in tsconfig.build.json, so both see it).
 */
export async function fetchJson(url: string, init: RequestInit = {}): Promise<JsonAnswer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text };
}

import type { JsonSchema } from './api-schemas.js';
import type { OpenApiDocument, Operation } from './openapi-document.js';
import { esc } from '../html-escape.js';

/**
 * /docs: the document as one server-rendered HTML page, no script and nothing fetched (the API often runs where
 * no CDN is reachable). swagger-ui-dist and Scalar would add an interactive client at several MB of assets to
 * the image; a reader needs the routes, their scopes, parameters and schemas, and a code generator takes
 * /openapi.json itself.
 */
export function renderDocsPage(doc: OpenApiDocument): string {
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op: op as Operation })),
  );
  const byTag = new Map<string, typeof operations>();
  for (const entry of operations) {
    const tag = entry.op.tags[0] ?? 'other';
    byTag.set(tag, [...(byTag.get(tag) ?? []), entry]);
  }
  const index = operations
    .map(({ path, method, op }) => {
      const label = `${method.toUpperCase()} ${path}`;
      return `<li><a href="#${anchor(op.operationId)}"><code>${esc(label)}</code></a> ${esc(op.summary)}</li>`;
    })
    .join('\n');
  const sections = [...byTag.entries()]
    .map(
      ([tag, entries]) =>
        `<h2>${esc(tag)}</h2>\n${entries.map((e) => operationHtml(e.path, e.method, e.op)).join('\n')}`,
    )
    .join('\n');
  const schemas = Object.entries(doc.components.schemas)
    .map(([name, schema]) => `<h3 id="schema-${anchor(name)}">${esc(name)}</h3>\n${schemaHtml(schema)}`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} API ${esc(doc.info.version)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f5f5f5;padding:.6em;overflow:auto;max-height:28em}
.op{border:1px solid #ddd;border-radius:6px;padding:.4em 1em;margin:1em 0}.m{font-weight:bold;text-transform:uppercase}
table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:.2em .6em;text-align:left;vertical-align:top}
</style>
</head>
<body>
<h1>${esc(doc.info.title)} API <small>${esc(doc.info.version)}</small></h1>
<p>${esc(doc.info.description)} The same as JSON: <a href="/openapi.json">/openapi.json</a> (OpenAPI ${esc(doc.openapi)}).</p>
<p>Authentication: <code>Authorization: Bearer &lt;API key&gt;</code>; each route names the scope it needs.</p>
<ul>
${index}
</ul>
${sections}
<h2>Schemas</h2>
${schemas}
</body>
</html>
`;
}

function operationHtml(path: string, method: string, op: Operation): string {
  const params = (op.parameters ?? [])
    .map(
      (p) =>
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${esc(JSON.stringify(p.schema))}</td><td>${esc(p.description ?? '')}</td></tr>`,
    )
    .join('');
  // JSON, or a multipart form (the OpenAI file upload): named with its media type when not JSON.
  const body = Object.entries(op.requestBody?.content ?? {})
    .map(([type, { schema }]) => `${type === 'application/json' ? '' : `${esc(type)} `}${schemaLink(schema)}`)
    .join(', ');
  const answers = Object.entries(op.responses)
    .map(([code, answer]) => {
      const types = Object.entries(answer.content ?? {})
        .map(([type, { schema }]) => `${esc(type)} ${schemaLink(schema)}`)
        .join(', ');
      const headers = Object.keys(answer.headers ?? {})
        .map((h) => `<code>${esc(h)}</code>`)
        .join(' ');
      return `<tr><td>${esc(code)}</td><td>${esc(answer.description)}</td><td>${types}</td><td>${headers}</td></tr>`;
    })
    .join('');
  const scope =
    op['x-required-scope'] === 'public' ? 'no key needed' : `scope <code>${esc(op['x-required-scope'])}</code>`;
  return `<div class="op" id="${anchor(op.operationId)}">
<h3><span class="m">${esc(method)}</span> <code>${esc(path)}</code></h3>
<p>${esc(op.summary)} — ${scope}</p>
${op.description ? `<p>${esc(op.description)}</p>` : ''}
${params ? `<table><tr><th>Parameter</th><th>In</th><th>Schema</th><th></th></tr>${params}</table>` : ''}
${body ? `<p>Body: ${body}</p>` : ''}
<table><tr><th>Status</th><th>Meaning</th><th>Content</th><th>Headers</th></tr>${answers}</table>
</div>`;
}

function schemaLink(schema: JsonSchema): string {
  const target = typeof schema.$ref === 'string' ? schema.$ref.split('/').pop()! : null;
  return target
    ? `<a href="#schema-${anchor(target)}">${esc(target)}</a>`
    : `<code>${esc(JSON.stringify(schema))}</code>`;
}

function schemaHtml(schema: JsonSchema): string {
  return `<pre>${esc(JSON.stringify(schema, null, 2))}</pre>`;
}

function anchor(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '-');
}

/**
 * Every value put into an HTML page the API serves (the dashboard, the API docs page) goes through `esc`:
 * batch and item ids, provider and model names, schema texts come from users and operators, and the pages
 * are read by admins (a stored `<script>` would run with their key). The five characters that can end a text
 * node or a quoted attribute become character references.
 */
export function esc(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

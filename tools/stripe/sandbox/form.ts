/**
 * Stripe's request encoding: `application/x-www-form-urlencoded` with nested keys (`metadata[order]=7`,
 * `line_items[0][price]=price_1`, `expand[]=customer`). Values stay strings; each endpoint types its own params.
 */

export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

/** Decode a form-encoded string (a body or a query string) into nested objects and arrays. */
export function decodeForm(text: string): FormObject {
  const root: FormObject = {};
  if (text === '') return root;
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    const key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    const value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    assign(root, splitKey(key), value);
  }
  return arraysFromIndexes(root) as FormObject;
}

/** `a[b][0]` -> ['a', 'b', '0']; `expand[]` -> ['expand', '']. */
function splitKey(key: string): string[] {
  const open = key.indexOf('[');
  if (open === -1) return [key];
  const parts = [key.slice(0, open)];
  for (const match of key.slice(open).matchAll(/\[([^\]]*)\]/g)) parts.push(match[1]);
  return parts;
}

function assign(target: { [key: string]: FormValue }, path: string[], value: string): void {
  let node = target;
  for (let i = 0; i < path.length - 1; i += 1) {
    const segment = path[i];
    const existing = node[segment];
    if (existing === undefined || typeof existing === 'string' || Array.isArray(existing)) node[segment] = {};
    node = node[segment] as { [key: string]: FormValue };
  }
  let last = path[path.length - 1];
  // `expand[]=a&expand[]=b` appends: give each empty index the next free slot.
  if (last === '') last = String(Object.keys(node).length);
  node[last] = value;
}

/** Objects whose keys are exactly 0..n-1 become arrays, as Stripe's server reads them. */
function arraysFromIndexes(value: FormValue): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  const converted: { [key: string]: FormValue } = {};
  for (const key of keys) converted[key] = arraysFromIndexes(value[key]);
  const isList = keys.length > 0 && keys.every((key, i) => key === String(i));
  return isList ? keys.map((key) => converted[key]) : converted;
}

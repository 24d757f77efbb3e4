/**
 * Stripe's list envelope and `expand[]`, shared by every sandbox endpoint that lists or retrieves objects.
 */
import type { Json, JsonObject } from '../../../kernel/index.ts';
import { invalid } from './errors.ts';
import type { FormObject, FormValue } from './form.ts';
import type { SandboxState } from './state.ts';

/** `limit` (1..100, default 10) and `starting_after`, answered as `{object: 'list', data, has_more, url}`. */
export function page(items: JsonObject[], query: FormObject, url: string, kind: string): JsonObject {
  const limit = query.limit === undefined ? 10 : integer(query.limit, 'limit');
  if (limit < 1 || limit > 100) throw invalid('This value must be greater than or equal to 1 and less than or equal to 100.', 'limit');
  let start = 0;
  const after = query.starting_after;
  if (after !== undefined) {
    if (typeof after !== 'string') throw invalid('Invalid string: starting_after must be an object id.', 'starting_after');
    const index = items.findIndex((item) => item.id === after);
    if (index === -1) {
      throw invalid(`No such ${kind}: '${after}'`, 'starting_after', 'resource_missing');
    }
    start = index + 1;
  }
  const data = items.slice(start, start + limit);
  return { object: 'list', data, has_more: start + limit < items.length, url };
}

/** A form value that must be a non-negative integer written in decimal, as Stripe parses `amount`. */
export function integer(value: FormValue | undefined, param: string): number {
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) {
    throw invalid(`Invalid integer: ${typeof value === 'string' ? value : JSON.stringify(value)}`, param, 'parameter_invalid_integer');
  }
  return Number(value);
}

/** A required (or optional) string parameter. */
export function text(params: FormObject, param: string, required: true): string;
export function text(params: FormObject, param: string, required: false): string | undefined;
export function text(params: FormObject, param: string, required: boolean): string | undefined {
  const value = params[param];
  if (value === undefined) {
    if (required) throw invalid(`Missing required param: ${param}.`, param, 'parameter_missing');
    return undefined;
  }
  if (typeof value !== 'string') throw invalid(`Invalid string: ${param} must be a string.`, param);
  return value;
}

/** `metadata[key]=value` pairs, as a flat string map. */
export function metadata(params: FormObject): JsonObject {
  const value = params.metadata;
  if (value === undefined || value === '') return {};
  if (typeof value === 'string' || Array.isArray(value)) throw invalid('Invalid object: metadata must be a hash.', 'metadata');
  const result: JsonObject = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw invalid(`Invalid string: metadata[${key}] must be a string.`, `metadata[${key}]`);
    result[key] = entry;
  }
  return result;
}

/** Apply `expand[]` paths (`customer`, `data.customer`, `items.data.price.product`) to a copy of `object`. */
export function expand(state: SandboxState, object: JsonObject, query: FormObject): JsonObject {
  const paths = query.expand;
  if (paths === undefined) return object;
  const list = typeof paths === 'string' ? [paths] : Array.isArray(paths) ? paths : Object.values(paths);
  let result: Json = object;
  for (const path of list) {
    if (typeof path !== 'string') throw invalid('Invalid array: expand must be a list of strings.', 'expand');
    result = expandPath(state, result, path.split('.'));
  }
  return result as JsonObject;
}

function expandPath(state: SandboxState, node: Json, segments: string[]): Json {
  if (segments.length === 0) return node;
  if (Array.isArray(node)) return node.map((item) => expandPath(state, item, segments));
  if (node === null || typeof node !== 'object') return node;
  const [head, ...rest] = segments;
  let child: Json | undefined = node[head];
  if (child === undefined) throw invalid(`This property cannot be expanded (${head}).`, 'expand');
  if (typeof child === 'string') {
    const found = state.byId(child);
    if (found !== undefined) child = structuredClone(found);
  }
  return { ...node, [head]: expandPath(state, child, rest) };
}

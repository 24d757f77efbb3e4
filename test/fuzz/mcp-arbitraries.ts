import fc from 'fast-check';
import { expect } from 'vitest';

/**
 * What the /mcp fuzz targets send (test/fuzz/mcp.server.test.ts against an in-process stack, and
 * test/fuzz/hostile.long.test.ts against a real `countersign start`), and the property every answer must have.
 */

export interface ListedTool {
  name: string;
  inputSchema: { properties?: Record<string, unknown> };
}

/** Strings an attacker sends: hostile Unicode, lone surrogates, NUL, huge numbers as text, paths, URLs. */
export const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('\u0000', '\uD800', 'a\uDFFFb', '\u202E', '../../etc/passwd', 'https://169.254.169.254/', '__proto__', 'constructor', '9'.repeat(400), '-1', '1e309', 'NaN', '', ' ', 'acme/web', 'main', 'ch_1', 'cus_1'),
);
export const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    nasty,
    fc.integer(),
    fc.constantFrom(0, -1, 2 ** 53, -(2 ** 63), 1e308, -0, 0.5, 12000),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(nasty, tie('v'), { maxKeys: 3 }),
  ),
})).v;

/** Messages for a server whose tools are `tools()` (read when a case is generated, after the server listed them). */
export function mcpArbitraries(tools: () => ListedTool[]) {
  /** Arguments for one of the server's tools: its own parameter names with arbitrary values, plus strays. */
  const toolCall = fc.integer({ min: 0, max: 10_000 }).chain((i) => {
    const list = tools();
    const tool = list[i % list.length]!;
    const keys = Object.keys(tool.inputSchema.properties ?? {});
    const key = keys.length ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: nasty }) : nasty;
    return fc.dictionary(key, json, { maxKeys: keys.length + 1 }).map((args) => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: tool.name, arguments: args } }));
  });
  const methods = ['ping', 'tools/list', 'tools/call', 'resources/list', 'resources/read', 'prompts/list', 'prompts/get', 'logging/setLevel', 'completion/complete', 'tasks/get', 'tasks/list', 'tasks/cancel', 'tasks/result', 'initialize', 'notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'nope/nope', ''];
  const message = fc.oneof(
    { weight: 4, arbitrary: toolCall },
    {
      weight: 3,
      arbitrary: fc.record(
        { jsonrpc: fc.constantFrom('2.0', '2.0', '1.0', 2), id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.double(), fc.constant({})), method: fc.constantFrom(...methods), params: fc.oneof(fc.dictionary(nasty, json, { maxKeys: 4 }), json) },
        { requiredKeys: ['jsonrpc', 'method'] },
      ),
    },
    { weight: 1, arbitrary: json },
  );

  const mutated = fc.tuple(message, fc.array(fc.nat(20), { maxLength: 4 }), fc.option(fc.oneof(json, fc.constant(undefined)), { freq: 2 })).map(([m, path, replacement]) =>
    replacement === null ? m : mutate(m, path, replacement),
  );

  /** Bodies that are not one clean JSON message: truncated, wrapped, invalid UTF-8, deep, huge. */
  const rawBody = fc.oneof(
    message.map((m) => JSON.stringify(m)).chain((s) => fc.nat(s.length).map((n) => s.slice(0, n))),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.uint8Array({ maxLength: 64 }),
    fc.constantFrom('', 'null', '[]', '{}', '[{}]', '"x"', '1', '\uFEFF{"jsonrpc":"2.0","id":1,"method":"ping"}', '{"jsonrpc":"2.0","id":1,"method":"ping","id":2}', '{"__proto__":{"x":1},"jsonrpc":"2.0","id":1,"method":"ping"}'),
    fc.nat(20_000).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`),
    fc.nat(20_000).map((n) => `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"github_get_repo","arguments":{"owner":${'['.repeat(n)}${']'.repeat(n)}}}}`),
    fc.nat(5_000).map((n) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'github_create_issue', arguments: { owner: 'acme', repo: 'web', title: 'x'.repeat(n * 100) } } })),
  );
  return { toolCall, message, mutated, rawBody };
}

/** A subtree replaced, a key dropped, or a value's type changed: the message almost right. */
export function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const [step, ...rest] = path;
  if (Array.isArray(value)) {
    if (value.length === 0) return replacement;
    const i = step! % value.length;
    return value.map((x, j) => (j === i ? mutate(x, rest, replacement) : x));
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[step! % keys.length]!;
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (replacement === undefined) delete copy[key];
  else copy[key] = mutate(copy[key], rest, replacement);
  return copy;
}

/** Headers a confused or hostile MCP client sends. */
export const mcpHeaders = fc.record(
  {
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1', 'multipart/form-data', ''),
    accept: fc.constantFrom('application/json, text/event-stream', 'application/json', 'text/event-stream', '*/*', ''),
    'mcp-protocol-version': fc.constantFrom('2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '1999-01-01', 'x'),
    'mcp-session-id': fc.constantFrom('bogus', '', '00000000-0000-0000-0000-000000000000'),
  },
  { requiredKeys: [] },
);

/** An HTTP answer as the fuzz targets read it. */
export interface Answer {
  status: number;
  type: string;
  text: string;
}

export const isRpc = (m: unknown): boolean => {
  if (!m || typeof m !== 'object' || Array.isArray(m)) return false;
  const r = m as Record<string, unknown>;
  if (r.jsonrpc !== '2.0') return false;
  if ('method' in r) return typeof r.method === 'string'; // a notification or request the server sends (progress)
  return 'id' in r && ('result' in r || ('error' in r && typeof (r.error as { message?: unknown })?.message === 'string'));
};

/** The property every answer must have, whatever was sent. */
export function expectRpcAnswer(answer: Answer, sent: string): void {
  const where = `${answer.status} ${answer.type} ${answer.text.slice(0, 300)} for ${sent.slice(0, 300)}`;
  expect(answer.status, where).toBeLessThan(500);
  if (answer.status === 202 || answer.status === 204) return;
  if (answer.type.startsWith('text/event-stream')) {
    const data = answer.text.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trim()).filter(Boolean);
    for (const item of data) expect(isRpc(JSON.parse(item)), where).toBe(true);
    return;
  }
  expect(answer.type, where).toMatch(/^application\/json/);
  const parsed: unknown = JSON.parse(answer.text);
  expect(Array.isArray(parsed) ? parsed.every(isRpc) : isRpc(parsed), where).toBe(true);
}

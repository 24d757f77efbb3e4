import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { KernelError, compilePolicy, type PolicyConfig } from '../kernel/index.ts';
import { configSchema, knownKeys } from './config-schema.ts';
import { DEFAULT_LIMITS, type EdgeLimits } from './limits.ts';
import type { McpServerConfig } from '../tools/mcp/downstream.ts';
import type { TrustProxy } from '../net/proxy.ts';

/** countersign.yaml, validated, with `env:` references resolved and defaults filled in. */
export interface Config {
  publicUrl?: string;
  holdSeconds: number;
  /** How long an execution lease lasts without renewal (replicas take over lapsed ones). */
  leaseSeconds: number;
  connectors: {
    github?: { token?: string; baseUrl?: string };
    stripe?: { secretKey?: string; baseUrl?: string };
    mcp?: { servers: Record<string, McpServerConfig> };
    aws?: { region?: string; accessKeyId?: string; secretAccessKey?: string; sessionToken?: string; endpoint?: string };
  };
  roles: Record<string, string[]>;
  policy: PolicyConfig;
  notify: { webhooks: Webhook[]; webPush: boolean };
  /** Where checkpoints go besides the database: file paths (relative to the config file) and URLs. */
  audit: { witnesses: (string | { url: string; allowPrivateNetwork?: boolean })[] };
  /**
   * Who issues the OAuth access tokens /mcp accepts besides agent tokens: Countersign's own authorization server
   * (builtin, the default), the issuer under `oauth` (external, the default when `oauth` is set), or both.
   */
  auth: 'builtin' | 'external' | 'both';
  oauth?: { issuer: string; audience: string; jwksUrl?: string; algorithms?: string[]; tokenType?: string; requiredScopes?: string[] };
  rateLimit?: { perMinute: number };
  /** Body sizes and HTTP timeouts (gateway/edge.ts), defaults filled in. */
  limits: EdgeLimits;
  /** Host names the server answers to besides its public URL's and loopback (DNS rebinding protection). */
  allowedHosts: string[];
  /** The reverse proxies whose X-Forwarded-For (or Forwarded) names the client; unset: headers are ignored. */
  trustProxy?: TrustProxy;
}

/** A webhook the notifier posts to; private addresses (and plain http) only where config says so for this URL. */
export interface Webhook {
  url: string;
  allowPrivateNetwork: boolean;
}

/** A config problem: the message starts with `file:line:column:` and says what is wrong and how to fix it. */
export class ConfigError extends KernelError {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number | null,
    readonly column: number | null,
  ) {
    super('config_error', message, { file, line, column });
    this.name = 'ConfigError';
  }
}

type Path = (string | number)[];
interface Problem {
  offset: number;
  text: string;
}

/** Reads and validates the config file (default: COUNTERSIGN_CONFIG, else ./countersign.yaml). Throws ConfigError. */
export function loadConfig(path: string = process.env.COUNTERSIGN_CONFIG ?? './countersign.yaml', env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError(
      `${path}: cannot read the config (${reason}); run \`countersign start\` once to create a commented example, or set COUNTERSIGN_CONFIG to your config's path`,
      path,
      null,
      null,
    );
  }
  return parseConfig(text, path, env);
}

/** Validates config text; `file` is only used in messages. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const fail = (problems: Problem[]): never => {
    problems.sort((a, b) => a.offset - b.offset);
    const rendered = problems.map((p) => {
      const { line, col } = lines.linePos(p.offset);
      return { line, col, text: `${file}:${line}:${col}: ${p.text}` };
    });
    throw new ConfigError(rendered.map((r) => r.text).join('\n'), file, rendered[0]!.line, rendered[0]!.col);
  };

  if (doc.errors.length > 0) {
    fail(doc.errors.map((e) => ({ offset: e.pos[0], text: `YAML syntax: ${e.message.split('\n')[0]}; check indentation and quoting on this line` })));
  }
  // An alias inside the node its anchor names would make that value contain itself ("&a\n<<: *a"): no config is
  // shaped like that, and every walk of it would recurse forever.
  const loop = aliasLoopOffset(doc);
  if (loop !== undefined) fail([{ offset: loop, text: 'YAML aliases: this *alias sits inside the &anchor it names, so its value would contain itself; write the value out' }]);
  let raw: unknown;
  try {
    // Aliases are resolved here: one used before its anchor, or so many that they multiply the document, is an error.
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    fail([{ offset: aliasOffset(doc), text: `YAML aliases: ${(error as Error).message.split('\n')[0]}; set each &anchor before its *alias, or write the value out` }]);
  }
  if (raw === null || raw === undefined) fail([{ offset: 0, text: 'the config is empty; it needs at least a policy: section (delete the file and restart to get the example)' }]);
  if (typeof raw !== 'object' || Array.isArray(raw)) fail([{ offset: 0, text: 'the config must be a map of settings (publicUrl, roles, policy, ...)' }]);

  const envProblems: Problem[] = [];
  const resolved = resolveEnv(raw, [], env, (path, message) => envProblems.push({ offset: offsetOf(doc, path), text: message }));
  if (envProblems.length > 0) fail(envProblems);

  const parsed = configSchema.safeParse(resolved, { reportInput: true });
  if (!parsed.success) fail(parsed.error.issues.flatMap((issue) => describeIssue(doc, issue)));
  const value = parsed.data!;

  if ((value.auth === 'external' || value.auth === 'both') && !value.oauth) {
    fail([{ offset: offsetOf(doc, ['auth'], true), text: `auth: ${value.auth} needs an oauth: section naming the external issuer (issuer, audience); or set auth: builtin` }]);
  }
  const roles = value.roles ?? {};
  if ('owner' in roles) fail([{ offset: offsetOf(doc, ['roles', 'owner'], true), text: 'role "owner" is built in (the agent\'s owner); name your role differently' }]);
  try {
    compilePolicy(value.policy, { roles: Object.keys(roles) });
  } catch (error) {
    if (!(error instanceof KernelError) || error.code !== 'policy_error') throw error;
    const path = Array.isArray(error.details?.path) ? (error.details.path as Path) : [];
    const inner = typeof error.details?.offset === 'number' ? { offset: error.details.offset, text } : undefined;
    fail([{ offset: offsetOf(doc, ['policy', ...path], false, inner), text: error.message }]);
  }

  return {
    publicUrl: value.publicUrl?.replace(/\/+$/, ''),
    holdSeconds: value.holdSeconds ?? 25,
    leaseSeconds: value.leaseSeconds ?? 30,
    connectors: value.connectors ?? {},
    roles,
    policy: value.policy,
    notify: {
      webhooks: (value.notify?.webhooks ?? []).map((hook) => (typeof hook === 'string' ? { url: hook, allowPrivateNetwork: false } : { url: hook.url, allowPrivateNetwork: hook.allowPrivateNetwork ?? false })),
      webPush: value.notify?.webPush ?? false,
    },
    audit: { witnesses: value.audit?.witnesses ?? [] },
    auth: value.auth ?? (value.oauth ? 'external' : 'builtin'),
    oauth: value.oauth,
    rateLimit: value.rateLimit,
    limits: { ...DEFAULT_LIMITS, ...value.limits },
    allowedHosts: value.allowedHosts ?? [],
    trustProxy: Array.isArray(value.trustProxy) ? { addresses: value.trustProxy } : value.trustProxy,
  };
}

const ENV_REF = /^env:(.*)$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Where the first alias that does not resolve is (else the first alias): what toJS complained about. */
function aliasOffset(doc: Document): number {
  let first: number | undefined;
  let unresolved: number | undefined;
  visit(doc, {
    Alias(_, node) {
      first ??= node.range?.[0];
      if (unresolved === undefined && !node.resolve(doc)) unresolved = node.range?.[0];
    },
  });
  return unresolved ?? first ?? 0;
}

/** Where an alias sits inside the node its own anchor names, if one does. */
function aliasLoopOffset(doc: Document): number | undefined {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, node, path) {
      const target = node.resolve(doc);
      if (offset === undefined && target && path.includes(target)) offset = node.range?.[0] ?? 0;
    },
  });
  return offset;
}

/** Replaces `env:NAME` strings with the variable's value. Policy and roles are data, never references. */
function resolveEnv(value: unknown, path: Path, env: NodeJS.ProcessEnv, report: (path: Path, message: string) => void): unknown {
  if (path.length === 1 && (path[0] === 'policy' || path[0] === 'roles')) return value;
  if (typeof value === 'string') {
    const match = ENV_REF.exec(value);
    if (!match) return value;
    const name = match[1]!;
    const where = dotted(path);
    if (!ENV_NAME.test(name)) report(path, `${where}: "${value}" is not a valid environment reference; write env:NAME, e.g. env:GITHUB_TOKEN`);
    else if (!env[name]) report(path, `${where} reads the environment variable ${name}, which is not set; export ${name} or remove this line`);
    return env[name];
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveEnv(item, [...path, i], env, report));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolveEnv(item, [...path, key], env, report)]));
  }
  return value;
}

function dotted(path: Path): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '') || 'the config';
}

function describeIssue(doc: Document, issue: z.core.$ZodIssue): Problem[] {
  const path = issue.path as Path;
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(path);
    return issue.keys.map((key) => {
      const near = closest(key, known);
      const hint = near ? `did you mean "${near}"?` : `known keys here: ${known.join(', ')}`;
      return { offset: offsetOf(doc, [...path, key], true), text: `unknown key "${key}" in ${path.length ? dotted(path) : 'the config'}; ${hint}` };
    });
  }
  const where = dotted(path);
  const input = (issue as { input?: unknown }).input;
  if (input === undefined) return [{ offset: offsetOf(doc, path), text: `${where} is missing; add it: ${expectation(issue)}` }];
  return [{ offset: offsetOf(doc, path), text: `${where} must be ${expectation(issue)}, got ${shown(input)}` }];
}

function expectation(issue: z.core.$ZodIssue): string {
  if (/^[a-z]/.test(issue.message)) return issue.message;
  if (issue.code === 'invalid_type' && issue.expected === 'object') return 'a map of settings';
  if (issue.code === 'invalid_type' && issue.expected === 'record') return 'a map of names to settings';
  if (issue.code === 'invalid_type' && issue.expected === 'array') return 'a list';
  return issue.message;
}

function shown(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return JSON.stringify(value);
}

/** The closest known key within a small edit distance, for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | null {
  let best: { key: string; distance: number } | null = null;
  for (const key of candidates) {
    const distance = editDistance(word.toLowerCase(), key.toLowerCase());
    if (distance <= Math.max(2, Math.floor(key.length / 3)) && (!best || distance < best.distance)) best = { key, distance };
  }
  return best?.key ?? null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * Where a path points in the source: the value's start (or the key's, with `key`), falling back to the nearest
 * existing parent for a missing key. `inner` is a character offset inside a single-line scalar (a CEL error).
 */
function offsetOf(doc: Document, path: Path, key = false, inner?: { offset: number; text: string }): number {
  let node: Node | null = doc.contents;
  let at = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length && node; i++) {
    const part = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      const keyNode = pair.key as Node;
      const valueNode = (pair.value as Node | null) ?? null;
      at = (last && key) || !valueNode?.range ? keyNode.range?.[0] ?? at : valueNode.range[0];
      node = valueNode;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as Node | undefined;
      if (!item?.range) break;
      at = item.range[0];
      node = item;
    } else break;
  }
  if (inner !== undefined && node && isScalar(node) && node.range) {
    const source = inner.text.slice(node.range[0], node.range[1]);
    const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
    if ((node.type === 'PLAIN' || quoted) && !source.includes('\n')) at = node.range[0] + (quoted ? 1 : 0) + inner.offset;
    if (node.type === 'BLOCK_LITERAL') at = insideBlock(source, String(node.value), inner.offset, node.range[0]);
  }
  return at;
}

/** An offset inside a `|` block scalar's value, mapped back to the source: its lines keep their breaks. */
function insideBlock(source: string, value: string, offset: number, start: number): number {
  const before = value.slice(0, offset);
  const line = before.split('\n').length - 1;
  const column = offset - (before.lastIndexOf('\n') + 1);
  const rows = source.split('\n'); // rows[0] is the "|" header
  const indent = /^ */.exec(rows[1] ?? '')![0].length;
  const lineStart = rows.slice(0, 1 + line).reduce((n, row) => n + row.length + 1, 0);
  return start + lineStart + indent + column;
}

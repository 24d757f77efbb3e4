import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * Each child process gets only the environment it needs; the supervisor builds it from scratch rather than removing
 * what it knows to be secret, so a variable nobody thought of stays behind too. Credentials named in the config
 * (`env:NAME`) go only to the process whose section names them: `connectors.github` to the github executor, and
 * references elsewhere (a webhook URL under `notify`) to the kernel.
 */

/** What any Node process needs to run: paths, locale, temp dirs, Countersign's own non-secret settings (LOG_LEVEL too). */
const BASE = /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|TEMP|TMP|TERM|NO_COLOR|FORCE_COLOR|CI|NODE_ENV|NODE_EXTRA_CA_CERTS|LOG_LEVEL|COUNTERSIGN_HOME|COUNTERSIGN_CONFIG|COUNTERSIGN_PUBLIC_URL|PORT|HOST)$/;
/** Outbound proxies: executors and the kernel's notifier make requests. */
const PROXY = /^(HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy)$/;
/** What each built-in connector reads from the environment besides its config section. */
const CONNECTOR_ENV: Record<string, RegExp> = { github: /^GITHUB_TOKEN$/, stripe: /^STRIPE_SECRET_KEY$/, aws: /^AWS_[A-Z0-9_]+$/ };

export type Role = 'kernel' | 'edge' | `executor:${string}`;

/** Every `env:NAME` in the config, with the top-level section (or `connectors.<name>`) it sits in. */
export function envRefs(configPath: string): { owner: string; name: string }[] {
  let doc: unknown;
  try {
    doc = parse(readFileSync(configPath, 'utf8'));
  } catch {
    return []; // the kernel reports a bad config with file and line
  }
  const found: { owner: string; name: string }[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (typeof value === 'string') {
      const match = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(value);
      if (match) found.push({ owner: path[0] === 'connectors' && path[1] ? `connectors.${path[1]}` : (path[0] ?? ''), name: match[1]! });
    } else if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, String(i)]));
    else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
  };
  walk(doc, []);
  return found;
}

/** The connectors a config runs (gateway/connectors.ts: connectorNames), read without loading any connector. */
export function connectorsOf(configPath: string): string[] {
  type Shape = { connectors?: { mcp?: { servers?: Record<string, unknown> } } } | null;
  let doc: Shape = null;
  try {
    doc = parse(readFileSync(configPath, 'utf8')) as Shape;
  } catch {
    // the kernel reports a bad config with file and line
  }
  return ['github', 'stripe', 'aws', ...(Object.keys(doc?.connectors?.mcp?.servers ?? {}).length > 0 ? ['mcp'] : [])];
}

const owns = (role: Role, owner: string) => (role.startsWith('executor:') ? owner === `connectors.${role.slice(9)}` : role === 'kernel' && !owner.startsWith('connectors'));

/** The environment a child starts with. */
export function childEnv(role: Role, parent: NodeJS.ProcessEnv, refs: { owner: string; name: string }[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const connector = role.startsWith('executor:') ? role.slice(9) : null;
  for (const [key, value] of Object.entries(parent)) {
    if (value === undefined) continue;
    if (BASE.test(key)) env[key] = value;
    else if (role !== 'edge' && PROXY.test(key)) env[key] = value;
    else if (role === 'kernel' && key === 'DATABASE_URL') env[key] = value;
    else if (connector && CONNECTOR_ENV[connector]?.test(key)) env[key] = value;
  }
  for (const ref of refs) if (owns(role, ref.owner) && parent[ref.name] !== undefined) env[ref.name] = parent[ref.name];
  return env;
}

/**
 * The environment a child reads its config with: its own, plus a stand-in for every reference another process owns,
 * so that the config still validates where the value is (rightly) absent. The stand-in is an https URL (a reference
 * may fill a URL field: a webhook, a base URL) on a name that never resolves (RFC 6761 `.invalid`), saying who holds it.
 */
export function configEnv(role: Role, own: NodeJS.ProcessEnv, refs: { owner: string; name: string }[]): NodeJS.ProcessEnv {
  const env = { ...own };
  for (const ref of refs) if (!owns(role, ref.owner) && !env[ref.name]) env[ref.name] = `https://held-by-another-process.invalid/${ref.owner || 'config'}`;
  return env;
}

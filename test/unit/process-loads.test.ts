import { join, resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleOptions } from '../../scripts/bundle.mjs';

// What each process of `countersign start --isolation process` loads when it starts: the static imports of its entry,
// followed through the CLI's own build (scripts/build-cli.mjs: our sources bundled with code splitting, packages left
// in node_modules). A package reached only through `import()` loads when that code runs, not at start. Every package
// a process loads and never uses costs it resident memory for as long as it runs (bench/NOTES.md, "Ninth pass: what
// each process of the set loads"): the supervisor held the web app and the core, the kernel the web app, executor:aws
// every AWS SDK client.

const root = resolve(import.meta.dirname, '../..');
let metafile: Metafile;

beforeAll(async () => {
  const result = await build({
    ...bundleOptions(root),
    entryPoints: { cli: join(root, 'gateway', 'cli.ts'), child: join(root, 'gateway', 'isolation', 'child.ts') },
    outdir: join(root, '.build', 'process-loads-test'),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  metafile = result.metafile;
}, 60_000);

/** Every package `entries` load at start (static imports only), each with the chain of our files that reaches it. */
function loadsAtStart(entries: string[]): Map<string, string> {
  const packages = new Map<string, string>();
  const seen = new Map<string, string>(entries.map((e) => [e, e]));
  const queue = [...entries];
  while (queue.length) {
    const file = queue.shift()!;
    const input = metafile.inputs[file];
    if (!input) throw new Error(`${file} is not part of the CLI's build`);
    for (const record of input.imports) {
      if (record.kind !== 'import-statement' || record.path.startsWith('node:')) continue;
      const chain = `${seen.get(file)!} -> ${record.path}`;
      if (record.external) {
        if (!packages.has(record.path)) packages.set(record.path, chain);
      } else if (!seen.has(record.path)) {
        seen.set(record.path, chain);
        queue.push(record.path);
      }
    }
  }
  return packages;
}

/** The chains by which `entries` load, at start, any package matching `forbidden`. */
function offending(entries: string[], forbidden: RegExp): string[] {
  return [...loadsAtStart(entries)].filter(([pkg]) => forbidden.test(pkg)).map(([, chain]) => chain);
}

const CONNECTOR_SDKS = /^(@octokit\/|stripe$|@aws-sdk\/|@modelcontextprotocol\/sdk\/client)/;
const DATABASE = /^(@electric-sql\/pglite|postgres$|drizzle-orm\/(pglite|postgres-js))/;
const WEB_APP = /^(hono$|@hono\/node-server|oidc-provider|qrcode|@simplewebauthn\/server|@modelcontextprotocol\/sdk\/server)/;

describe('what each process of the set loads at start', () => {
  it('sees packages at all (so the checks below can fail)', () => {
    expect(offending(['tools/github/index.ts'], /^@octokit\/rest$/)).toHaveLength(1);
    expect(offending(['gateway/edge-app.ts'], WEB_APP).length).toBeGreaterThan(0);
  });

  it('the supervisor: no web app, no database, no connector SDK, no core', () => {
    // `countersign start`'s own path: the CLI, the example config it writes, the supervisor and its logger.
    const supervisor = ['gateway/cli.ts', 'gateway/example-config.ts', 'gateway/isolation/supervisor.ts', 'gateway/operator/log.ts'];
    expect(offending(supervisor, new RegExp(`${WEB_APP.source}|${DATABASE.source}|${CONNECTOR_SDKS.source}|^drizzle-orm|^@marcbachmann/cel-js`))).toEqual([]);
  });

  it('the kernel: no web app and no connector SDK', () => {
    expect(offending(['gateway/isolation/child.ts', 'gateway/isolation/kernel-process.ts'], new RegExp(`${WEB_APP.source}|${CONNECTOR_SDKS.source}`))).toEqual([]);
  });

  it('an executor: no database, no web app, and no connector SDK before its own connector starts', () => {
    expect(offending(['gateway/isolation/child.ts', 'gateway/isolation/executor-process.ts'], new RegExp(`${WEB_APP.source}|${DATABASE.source}|${CONNECTOR_SDKS.source}`))).toEqual([]);
  });

  it("each connector: its own SDK only, and AWS's five clients each on its service's first call", () => {
    const connector = (name: string) => [`tools/${name}/index.ts`, ...(name === 'mcp' ? [] : [`tools/${name}/sandbox/index.ts`])];
    expect(offending(connector('github'), /^(stripe$|@aws-sdk\/|@modelcontextprotocol\/sdk\/client)/)).toEqual([]);
    expect(offending(connector('stripe'), /^(@octokit\/|@aws-sdk\/|@modelcontextprotocol\/sdk\/client)/)).toEqual([]);
    expect(offending(connector('mcp'), /^(@octokit\/|stripe$|@aws-sdk\/)/)).toEqual([]);
    expect(offending(connector('aws'), CONNECTOR_SDKS)).toEqual([]);
    for (const name of ['github', 'stripe', 'aws', 'mcp']) expect(offending(connector(name), new RegExp(`${WEB_APP.source}|${DATABASE.source}`))).toEqual([]);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// DESIGN section 1: who may import whom, and the kernel's review budget. These read the source, so a change that
// crosses a boundary fails here with the file and the import named.

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** Every relative import of a file, resolved to a path from the repository root. */
function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const patterns = [/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/g, /(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g, /import\(\s*['"]([^'"]+)['"]\s*\)/g];
  const specifiers = patterns.flatMap((pattern) => [...text.matchAll(pattern)]);
  return specifiers.map((m) => m[1]!).filter((s) => s.startsWith('.')).map((s) => relative(root, resolve(root, file, '..', s)));
}

/** Specifiers imported at run time: `import type` and `export type` lines are erased by the compiler. */
function runtimeSpecifiers(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
    .split('\n')
    .filter((line) => !/^\s*(import|export)\s+type\b/.test(line))
    .join('\n');
  const patterns = [/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/g, /(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g, /import\(\s*['"]([^'"]+)['"]\s*\)/g];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)]).map((m) => m[1]!);
}

/** This repository's modules a file imports at run time, as paths from the repository root. */
function runtimeImports(file: string): string[] {
  return runtimeSpecifiers(file)
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(root, resolve(root, file, '..', s)));
}

/** Every module reachable from `entries` through run-time imports, each with the chain that reaches it. */
function reachable(entries: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>(entries.map((e) => [e, [e]]));
  const queue = [...entries];
  while (queue.length) {
    const file = queue.shift()!;
    for (const target of runtimeImports(file)) {
      if (seen.has(target)) continue;
      seen.set(target, [...seen.get(file)!, target]);
      queue.push(target);
    }
  }
  return seen;
}

function crossings(from: string, forbidden: RegExp): string[] {
  return sources(from).flatMap((file) => imports(file).filter((target) => forbidden.test(target)).map((target) => `${file} imports ${target}`));
}

/** Lines of a TypeScript file that are neither blank nor only a comment. */
function codeLines(text: string): number {
  let inBlock = false;
  let count = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (inBlock) {
      if (line.includes('*/')) inBlock = false;
      continue;
    }
    if (line === '' || line.startsWith('//')) continue;
    if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      continue;
    }
    count++;
  }
  return count;
}

describe('architecture', () => {
  it('sees imports at all (so the boundary checks below can fail)', () => {
    expect(crossings('gateway', /^kernel\//).length).toBeGreaterThan(10);
  });

  it('keeps the kernel free of every other top-level folder', () => {
    expect(crossings('kernel', /^(?!kernel\/)/)).toEqual([]);
  });

  it('keeps net/ (address checks for outbound requests, throttles) a leaf that imports no other top-level folder', () => {
    expect(crossings('net', /^(?!net\/)/)).toEqual([]);
  });

  it('keeps tools away from the gateway and the approval web app', () => {
    expect(crossings('tools', /^(gateway|approval-web)\//)).toEqual([]);
  });

  it("keeps the approval web app and the gateway's MCP face away from connectors' executors and credentials", () => {
    expect(crossings('approval-web', /^tools\//)).toEqual([]);
    expect(crossings('gateway/mcp', /^tools\//)).toEqual([]);
  });

  // Invariant 10: the edge process (MCP gateway and web app, what agents and browsers reach) holds no credential. Its
  // code must not even load a module that reads one: connectors' executors and sandboxes (tools/), the place that
  // reads their credentials (gateway/connectors.ts), the kernel key file (gateway/keys.ts), the database driver and
  // its URL (gateway/db.ts), the VAPID private key (approval-web/notify/), or the kernel and executor processes.
  it('keeps everything the edge process loads away from executors and credential-reading modules', () => {
    const graph = reachable(['gateway/isolation/edge-main.ts', 'gateway/isolation/edge-process.ts', 'gateway/edge-app.ts', 'approval-web/index.ts', 'gateway/mcp/index.ts']);
    expect(graph.has('gateway/mcp/handler.ts') && graph.has('approval-web/routes/request.tsx')).toBe(true); // the walk works
    const forbidden = /^(tools\/|gateway\/(connectors|keys|db|app|cli|admin)\.ts$|gateway\/audit\/|gateway\/isolation\/(kernel-process|executor-process|supervisor|env|edge-bundle)\.ts$|approval-web\/notify\/)/;
    const reached = [...graph].filter(([file]) => forbidden.test(file)).map(([, chain]) => chain.join(' -> '));
    expect(reached).toEqual([]);
    // Nor a package that holds or looks for a credential: the connectors' SDKs (the AWS SDK's default chain reads
    // AWS_* and ~/.aws), the downstream MCP client, the database drivers, Web Push (the VAPID private key).
    const packages = /^(stripe|@octokit\/|octokit|@aws-sdk\/|@smithy\/|@modelcontextprotocol\/sdk\/client\/|postgres$|@electric-sql\/pglite|drizzle-orm\/(pglite|postgres-js)|web-push)/;
    const loads = [...graph].flatMap(([file, chain]) => runtimeSpecifiers(file).filter((s) => packages.test(s)).map((s) => `${chain.join(' -> ')} -> ${s}`));
    expect(loads).toEqual([]);
    expect([...graph.keys()].flatMap(runtimeSpecifiers)).toContain('@modelcontextprotocol/sdk/server/index.js'); // packages are seen
    // Nor does any of it read the environment: credentials arrive there or nowhere.
    const readsEnv = [...graph.keys()].filter((file) => file.startsWith('gateway/') || file.startsWith('approval-web/')).filter((file) => /process\.env\b/.test(readFileSync(join(root, file), 'utf8')));
    expect(readsEnv).toEqual([]);
  });

  // Display hygiene is shared by every screen: the web pages, notifications, the audit dashboard and the gateway's
  // Passport emulator. It stays a leaf (kernel types only), so importing it never drags a screen's code along.
  it('keeps display hygiene a leaf that every screen can import', () => {
    const files = ['approval-web/hygiene.ts', ...sources('approval-web/hygiene')];
    const reached = files.flatMap((file) => imports(file).filter((t) => !/^(kernel\/index\.ts|approval-web\/hygiene\/)/.test(t)).map((t) => `${file} imports ${t}`));
    expect(reached).toEqual([]);
  });

  it('has no `any` in the kernel', () => {
    const found = sources('kernel').flatMap((file) =>
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .flatMap((line, i) => (/(:\s*any\b|\bas any\b|<any>|\bany\[\])/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });

  // The budget counts lines of code: blank lines and comments (which explain why) are free, so they are never the
  // thing cut to fit. DESIGN section 1: 2,500, small enough to review in an hour.
  it('keeps the kernel within its review budget of 2,500 lines of code', () => {
    const code = sources('kernel').reduce((sum, file) => sum + codeLines(readFileSync(join(root, file), 'utf8')), 0);
    expect(code, `kernel/ has ${code} lines of code`).toBeLessThanOrEqual(2500);
    expect(code).toBeGreaterThan(1000); // the count itself works
  });
});

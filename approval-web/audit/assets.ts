import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import type { Context } from 'hono';

/**
 * The audit pages' own script (the fresh-passkey confirmation on /audit/people) and stylesheet, bundled in memory
 * once and served under /audit/assets/ with a content hash in the name, like the web app's other assets.
 */

const CLIENT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'client');

export interface AuditAssets {
  script: string;
  /** Local times (UTC on hover) on every audit page. */
  times: string;
  stylesheet: string;
  files: Map<string, { body: Uint8Array; type: string }>;
}

/** How the audit client files are built (also into the edge process's bundle: gateway/isolation/edge-bundle.ts). */
export const AUDIT_CLIENT_BUILD = {
  entryPoints: [join(CLIENT_DIR, 'people.ts'), join(CLIENT_DIR, 'times.ts'), join(CLIENT_DIR, 'audit.css')],
  bundle: true,
  write: false,
  format: 'esm',
  target: ['es2020', 'safari15'],
  minify: true,
  outdir: '/audit-assets',
  logLevel: 'silent',
} satisfies BuildOptions;

/** Bundles the client files; fails with esbuild's message when one does not compile. */
export async function bundleAuditAssets(): Promise<AuditAssets> {
  const result = await build(AUDIT_CLIENT_BUILD);
  const files = new Map<string, { body: Uint8Array; type: string }>();
  const urls = new Map<string, string>();
  for (const output of result.outputFiles) {
    const base = output.path.slice(output.path.lastIndexOf('/') + 1);
    const dot = base.lastIndexOf('.');
    const hash = createHash('sha256').update(output.contents).digest('hex').slice(0, 12);
    const name = `${base.slice(0, dot)}.${hash}${base.slice(dot)}`;
    files.set(name, { body: output.contents, type: base.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8' });
    urls.set(base, `/audit/assets/${name}`);
  }
  const url = (base: string) => {
    const found = urls.get(base);
    if (!found) throw new Error(`esbuild produced no ${base}; check approval-web/audit/client/`);
    return found;
  };
  return { script: url('people.js'), times: url('times.js'), stylesheet: url('audit.css'), files };
}

/** Serves one bundled file; its name carries its content hash, so it caches for a year. */
export function serveAuditAsset(c: Context, assets: AuditAssets, name: string): Response {
  const file = assets.files.get(name);
  if (!file) return c.text(`No audit asset named ${name}. Reload the page to get current asset names.`, 404);
  return c.body(file.body as Uint8Array<ArrayBuffer>, 200, { 'content-type': file.type, 'cache-control': 'public, max-age=31536000, immutable' });
}

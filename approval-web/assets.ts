import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import type { Context } from 'hono';

/**
 * The client scripts and the stylesheet, bundled with esbuild in memory at server start and served under /assets/
 * with a content hash in the name, so they can be cached forever and the CSP needs no inline code.
 */

const CLIENT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'client');

/** The client entry points: one small script per page that needs one. */
export const ENTRY_POINTS = ['enroll', 'signin', 'inbox', 'approve', 'page', 'connect'] as const;
export type ScriptName = (typeof ENTRY_POINTS)[number];

export interface AssetManifest {
  scripts: Record<ScriptName, string>;
  stylesheet: string;
  files: Map<string, { body: Uint8Array; type: string }>;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** How the client files are built (the edge process's own bundle carries their output: gateway/isolation/edge-bundle.ts). */
export const CLIENT_BUILD = {
  entryPoints: [...ENTRY_POINTS.map((name) => join(CLIENT_DIR, `${name}.ts`)), join(CLIENT_DIR, 'app.css')],
  bundle: true,
  write: false,
  format: 'esm',
  target: ['es2020', 'safari15'],
  minify: true,
  outdir: '/assets',
  logLevel: 'silent',
} satisfies BuildOptions;

/** Bundles every entry point and the stylesheet; fails with the esbuild message if a client file does not compile. */
export async function bundleAssets(): Promise<AssetManifest> {
  const result = await build(CLIENT_BUILD);
  const files = new Map<string, { body: Uint8Array; type: string }>();
  const byEntry = new Map<string, string>();
  for (const output of result.outputFiles) {
    const base = output.path.slice(output.path.lastIndexOf('/') + 1);
    const ext = base.slice(base.lastIndexOf('.'));
    const stem = base.slice(0, -ext.length);
    const hash = createHash('sha256').update(output.contents).digest('hex').slice(0, 12);
    const name = `${stem}.${hash}${ext}`;
    files.set(name, { body: output.contents, type: TYPES[ext] ?? 'application/octet-stream' });
    byEntry.set(base, `/assets/${name}`);
  }
  const url = (base: string) => {
    const found = byEntry.get(base);
    if (!found) throw new Error(`esbuild produced no ${base}; check approval-web/client/`);
    return found;
  };
  const scripts = Object.fromEntries(ENTRY_POINTS.map((name) => [name, url(`${name}.js`)])) as Record<ScriptName, string>;
  return { scripts, stylesheet: url('app.css'), files };
}

/** Serves one bundled file; names carry their content hash, so they never change and cache for a year. */
export function serveAsset(c: Context, manifest: AssetManifest, name: string): Response {
  const file = manifest.files.get(name);
  if (!file) return c.text(`No asset named ${name}. Reload the page to get current asset names.`, 404);
  return c.body(file.body as Uint8Array<ArrayBuffer>, 200, {
    'content-type': file.type,
    'cache-control': 'public, max-age=31536000, immutable',
  });
}

// Builds the CLI ahead of time (run by `npm install` and `npm ci` through `prepare`): our TypeScript bundled into
// .build/cli/ with esbuild, packages left to node_modules, so a command starts without compiling ~300 files through
// tsx's loader. bin/countersign.js runs the build only while it is newer than every source file; after an edit it
// falls back to tsx, so the build is an accelerator, never a second source of truth.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleOptions } from './bundle.mjs';
import { newestSource } from './sources.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// `--out DIR` builds elsewhere (the tests); the build that bin/countersign.js runs is .build/cli.
const flag = process.argv.indexOf('--out');
const out = flag > 0 ? resolve(process.argv[flag + 1]) : join(root, '.build', 'cli');

const started = Date.now();
const newest = newestSource(root);
// Built beside its place and renamed into it, so a command starting meanwhile never sees half a build.
const staging = `${out}.${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
try {
  await build({
    entryPoints: { cli: join(root, 'gateway', 'cli.ts'), child: join(root, 'gateway', 'isolation', 'child.ts') },
    outdir: staging,
    ...bundleOptions(root),
  });
} catch (error) {
  // Never fatal: without a build, bin/countersign.js runs the sources through tsx.
  process.stderr.write(`countersign: building the CLI ahead of time failed, commands will compile at start instead (${error.message})\n`);
  rmSync(staging, { recursive: true, force: true });
  process.exit(0);
}
writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify({ root, newest })}\n`);
rmSync(out, { recursive: true, force: true });
renameSync(staging, out);
process.stdout.write(`countersign: CLI built into ${relative(process.cwd(), out) || out} in ${Date.now() - started} ms\n`);

#!/usr/bin/env node
// Entry point. `npm install` builds the CLI ahead of time (scripts/build-cli.mjs); that build runs while it is newer
// than every source file. Otherwise (after an edit, or when the build failed) this registers the TypeScript loader
// (tsx) and runs the sources as written. The tsconfig is named by path: tsx would otherwise look for one from the
// working directory, and a server started anywhere else compiled the pages' JSX for React and answered every page
// with a 500 (found by test/fuzz).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBuild } from '../scripts/sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
let entry = process.env.COUNTERSIGN_FROM_SOURCE ? null : freshBuild(root, join(root, '.build', 'cli'));
if (!entry) {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: join(root, 'tsconfig.json') });
  entry = '../gateway/cli.ts';
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));

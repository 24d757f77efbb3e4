#!/usr/bin/env node
// One process of `countersign start --isolation process` (gateway/isolation/): kernel, edge or executor:NAME.
// Started only by the supervisor, which gives it its environment and channel; not a command to run by hand.
// Like bin/countersign.js, it runs the build from `npm install` while that is fresh, else the sources through tsx.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBuild } from '../scripts/sources.mjs';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
let entry = process.env.COUNTERSIGN_FROM_SOURCE ? null : freshBuild(root, join(root, '.build', 'cli'), 'child');
if (!entry) {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: join(root, 'tsconfig.json') });
  entry = '../gateway/isolation/child.ts';
}
const { childMain } = await import(entry);
try {
  await childMain(process.argv[2] ?? '');
} catch (error) {
  process.stderr.write(`countersign (${process.argv[2]}): ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

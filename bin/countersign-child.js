#!/usr/bin/env node
// One process of `countersign start --isolation process` (gateway/isolation/): kernel, edge or executor:NAME.
// Started only by the supervisor, which gives it its environment and channel; not a command to run by hand.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { childMain } = await import('../gateway/isolation/child.ts');
try {
  await childMain(process.argv[2] ?? '');
} catch (error) {
  process.stderr.write(`countersign (${process.argv[2]}): ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

#!/usr/bin/env node
// A test connector's executor process (test/support/executors.ts, COUNTERSIGN_TEST_ISOLATION=process): the sources
// through tsx, as bin/countersign-child.js runs them without a fresh build.
import { register } from 'tsx/esm/api';

register({ tsconfig: new URL('../../tsconfig.json', import.meta.url).pathname });
const { executorChild } = await import('./executor-child.ts');
try {
  await executorChild(process.argv[2] ?? '');
} catch (error) {
  process.stderr.write(`test executor (${process.argv[2]}): ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

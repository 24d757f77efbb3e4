#!/usr/bin/env node
// `npm run fuzz`: the property and fuzz tests of test/fuzz/ run long. `npm test` runs each pure property a hundred or
// so times (seconds); this runs each FUZZ_RUNS times (default 100,000), and the targets that start a server
// (*.server.test.ts: /mcp, the web routes, a server process started elsewhere) a tenth of that, over HTTP.
// `npm run fuzz -- --long` runs the issue-scale fuzz alone (test/fuzz/hostile.long.test.ts): FUZZ_RUNS mutated
// JSON-RPC messages and tool calls against a real `countersign start`, and hostile HTTP to every route, with the
// server's memory measured. Every run uses one seed, printed first with the command that replays it; a failure also
// prints fast-check's path, which narrows the replay to the failing case:
//   FUZZ_SEED=-49723103 FUZZ_PATH=16:2:2 npm run fuzz -- test/fuzz/hygiene.test.tsx
// Extra arguments go to vitest (a file, -t NAME).
import { spawnSync } from 'node:child_process';

const argv = process.argv.slice(2);
const long = argv.includes('--long');
const rest = argv.filter((a) => a !== '--long');
const seed = process.env.FUZZ_SEED ?? String((Math.random() * 2 ** 32) | 0);
const env = { ...process.env, FUZZ_RUNS: process.env.FUZZ_RUNS ?? '100000', FUZZ_SEED: seed, ...(long ? { FUZZ_LONG: '1' } : {}) };
const files = long && !rest.some((a) => a.startsWith('test/')) ? ['test/fuzz/hostile.long.test.ts'] : [];
const args = ['vitest', 'run', '--project', 'fuzz', ...files, ...rest];
console.log(`fuzz: FUZZ_RUNS=${env.FUZZ_RUNS} FUZZ_SEED=${seed}: npx ${args.join(' ')}`);
console.log(`fuzz: replay this run with: FUZZ_RUNS=${env.FUZZ_RUNS} FUZZ_SEED=${seed} npm run fuzz --${long ? ' --long' : ''}${rest.length ? ` ${rest.join(' ')}` : ''}`);
const result = spawnSync('npx', args, { stdio: 'inherit', env });
console.log(`fuzz: seed was ${seed}${result.status === 0 ? '' : ' (add FUZZ_PATH=<path fast-check printed> to replay just the failing case)'}`);
process.exit(result.status ?? 1);

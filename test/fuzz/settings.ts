import fc from 'fast-check';

/**
 * How much each property runs. `npm test` runs the fast part: each pure property's own small count, a few seconds
 * for the whole project, without the *.server.test.ts files (a server per file costs more than that). `npm run fuzz` (scripts/fuzz.mjs) sets FUZZ_RUNS for the long run; FUZZ_SEED replays a failure with
 * the seed fast-check printed (FUZZ_PATH narrows it to the failing case's path).
 *
 * @example const report = await fc.assert(property, runs(40));
 */

const envRuns = Number(process.env.FUZZ_RUNS ?? '');
const envSeed = Number(process.env.FUZZ_SEED ?? '');

/** True in the long run (`npm run fuzz`). */
export const LONG = Number.isInteger(envRuns) && envRuns > 0;

/** Runs in this mode: `fast` in `npm test`; FUZZ_RUNS (times `share`: server targets take a tenth) in the long run. */
export const count = (fast: number, share = 1) => (LONG ? Math.max(1, Math.round(envRuns * share)) : fast);

/** fast-check parameters: `fast` runs in `npm test`, FUZZ_RUNS in the long run, a given seed replayed. */
export function runs(fast: number, share = 1): fc.Parameters<unknown> {
  return {
    numRuns: count(fast, share),
    ...(Number.isInteger(envSeed) && process.env.FUZZ_SEED ? { seed: envSeed } : {}),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}),
    // A long run reports every failure it can shrink in the time it has, not just "it failed".
    verbose: LONG ? 1 : 0,
    // The fast part stops a property early on a very busy machine rather than stretch `npm test` (what ran is kept).
    interruptAfterTimeLimit: LONG ? undefined : 15_000,
    markInterruptAsFailure: false,
  };
}

/** A test timeout that fits the run count (ms): `perRunMs` per run, at least `floor`. */
export function timeout(fast: number, perRunMs: number, share = 1, floor = 60_000): number {
  return Math.max(floor, count(fast, share) * perRunMs);
}

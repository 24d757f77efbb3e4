import { defineConfig } from 'vitest/config';

// What Stryker runs against each mutant: the unit project alone (no server processes, no PostgreSQL, no browser),
// so a mutant is judged in seconds. Unit tests may open in-memory PGlite: it is a library, not a service.
export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'hono/jsx' },
  test: {
    // A scoped run may add the few integration tests on PGlite that cover a file (tests.json; scripts/mutate.mjs sets
    // MUTATE_INTEGRATION and names them, so no other integration test runs).
    setupFiles: ['test/support/expect-setup.ts'],
    include: ['test/unit/**/*.test.ts', 'test/unit/**/*.test.tsx', ...(process.env.MUTATE_INTEGRATION ? ['test/integration/**/*.test.ts'] : [])],
    // These read the source (line counts, imports, capability grants); under Stryker that source is instrumented.
    // sandbox-file.test.ts fails in a vm pool (Stryker's, see stryker.config.mjs): the sandboxes' saved objects cross
    // realms there; it covers nothing in the mutation scope.
    exclude: ['test/unit/architecture.test.ts', 'test/unit/capability-sources.test.ts', 'test/unit/sandbox-file.test.ts'],
    // Instrumented code on a busy machine is slow; a mutant that hangs is still caught as a timeout by Stryker.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

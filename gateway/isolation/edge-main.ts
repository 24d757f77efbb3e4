import { Socket } from 'node:net';
import { runEdge } from './edge-process.ts';

/**
 * The edge process's entry point, bundled into one file at start (edge-bundle.ts) so that Node's permission model can
 * let it read that file and nothing else. fd 4 is its end of the socket pair with the kernel.
 */
process.on('disconnect', () => process.exit(0));
// As every child does (child.ts ignoreGroupSignals; not imported here, to keep this bundle's graph to the edge's own).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
try {
  await runEdge(new Socket({ fd: 4, readable: true, writable: true }));
} catch (error) {
  process.stderr.write(`countersign (edge): ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

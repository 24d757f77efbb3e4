import { Socket } from 'node:net';

/**
 * What `bin/countersign-child.js ROLE` runs. fd 4 is this child's end of its socket pair with the kernel (the
 * supervisor handed the other end to the kernel); the kernel itself has none and receives the others' ends.
 */
export async function childMain(role: string): Promise<void> {
  // The supervisor's going away means nobody restarts or drains this process: stop rather than linger.
  process.on('disconnect', () => process.exit(0));
  ignoreGroupSignals();
  if (role === 'kernel') return (await import('./kernel-process.ts')).runKernel();
  const socket = new Socket({ fd: 4, readable: true, writable: true });
  if (role === 'edge') return (await import('./edge-process.ts')).runEdge(socket);
  if (role.startsWith('executor:')) return (await import('./executor-process.ts')).runExecutor(role.slice('executor:'.length), socket);
  throw new Error(`unknown process role ${role}`);
}

/**
 * Ctrl-C on a terminal, `kill -- -PGID` and systemd signal the whole process group at once. Each child leaves stopping
 * to the supervisor, which drains the set in order (edge, executors, kernel) and sends each its `drain`; a child that
 * died of the signal first would cut held calls and executions short. Gone supervisor: `disconnect` above.
 */
export function ignoreGroupSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
}

import type { Socket } from 'node:net';
import type { JsonObject } from '../../kernel/index.ts';
import { createEdgeApp } from '../edge-app.ts';
import { drainHttp, serveHttp } from '../edge.ts';
import { childRouter } from './bridge.ts';
import type { DownstreamState, FromSupervisor, ProcessState } from './protocol.ts';

/**
 * The edge process: MCP over HTTP and the approval web app, the only process that parses agent and browser traffic.
 * It holds no database handle, no upstream credential and no kernel private key (its environment is scrubbed, env.ts);
 * everything it asks goes over its one channel to the kernel, where its two ports' capabilities are enforced.
 */
export async function runEdge(socket: Socket): Promise<void> {
  const start = await new Promise<Extract<FromSupervisor, { type: 'edge' }>>((ok) => {
    const listen = (message: FromSupervisor) => {
      if (message.type !== 'edge') return;
      process.off('message', listen);
      ok(message);
    };
    process.on('message', listen);
  });
  let processes: ProcessState[] = [];
  let downstream: DownstreamState[] = [];
  const router = childRouter(socket);
  const { settings } = start;
  const edge = createEdgeApp({
    settings,
    router,
    health: async () => ({
      // A process that crashed and is restarting (with backoff) makes the set degraded until it is up again.
      status: processes.every((p) => p.state === 'up') ? 'ok' : 'degraded',
      isolation: 'process',
      database: start.database,
      sandbox: settings.sandbox,
      processes: processes as unknown as JsonObject[],
      ...(downstream.length ? { mcp: downstream as unknown as JsonObject[] } : {}),
    }),
    metrics: () => processMetrics(processes),
  });
  const server = serveHttp(edge.app.fetch, { port: settings.listenPort, hostname: settings.host, limits: settings.limits });
  server.once('listening', () => {
    const address = server.address();
    process.send!({ type: 'listening', port: typeof address === 'object' && address ? address.port : settings.listenPort });
  });
  server.once('error', (error) => {
    process.stderr.write(`countersign: edge: ${error.message}\n`);
    process.exit(3);
  });
  const drain = async () => {
    // Stop accepting, let running requests answer, end every stream; then go.
    await drainHttp(server, 5000, edge.calls);
    await edge.close().catch(() => {});
    process.exit(0);
  };
  process.on('message', (message: FromSupervisor) => {
    if (message.type === 'processes') ({ processes, downstream } = message);
    if (message.type === 'drain') void drain();
  });
  void router.channel.closed.then(() => void drain());
}

/** One series per process of the set, as the supervisor last reported them. */
function processMetrics(processes: ProcessState[]): string[] {
  const label = (p: ProcessState) => `process="${p.name}"`;
  return [
    '# HELP countersign_process_up Whether each process of the set is up (1) or starting or restarting (0).',
    '# TYPE countersign_process_up gauge',
    ...processes.map((p) => `countersign_process_up{${label(p)}} ${p.state === 'up' ? 1 : 0}`),
    '# HELP countersign_process_restarts Restarts of each process after a crash, since countersign start.',
    '# TYPE countersign_process_restarts gauge',
    ...processes.map((p) => `countersign_process_restarts{${label(p)}} ${p.restarts}`),
    '# HELP countersign_process_resident_memory_bytes Resident memory of each process.',
    '# TYPE countersign_process_resident_memory_bytes gauge',
    ...processes.filter((p) => typeof p.rssBytes === 'number').map((p) => `countersign_process_resident_memory_bytes{${label(p)}} ${p.rssBytes}`),
  ];
}

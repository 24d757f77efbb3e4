import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';

/**
 * A reverse proxy for the MCP conformance suite, which sends no credentials: it adds `Authorization: Bearer <token>`
 * and forwards everything else as the client sent it (method, path, body, and headers including Host and Origin), so
 * the gateway's own DNS-rebinding check sees exactly what the suite sent and a bad Host or Origin is never masked.
 * Responses, Server-Sent Event streams included, flow back unbuffered.
 */

export interface ConformanceProxy {
  /** Where clients reach the proxy, e.g. `http://127.0.0.1:4321`. */
  url: string;
  close(): Promise<void>;
}

export interface ConformanceProxyOptions {
  /** The origin requests are forwarded to, e.g. `http://localhost:8787`. */
  target: string;
  /** The agent token added to every request that carries no Authorization of its own. */
  token: string;
  /** The port to listen on (0 picks a free one). */
  port?: number;
}

/** Starts the proxy on 127.0.0.1. */
export async function startConformanceProxy(options: ConformanceProxyOptions): Promise<ConformanceProxy> {
  const target = new URL(options.target);
  const server: Server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = { ...req.headers };
    headers.authorization ??= `Bearer ${options.token}`;
    const upstream = request(
      { hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (res.headersSent) return void res.destroy(error);
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: `Bad Gateway: the conformance proxy could not reach ${target.origin}: ${error.message}` }, id: null }));
    });
    // A client that hangs up (the suite closing an SSE stream) ends the upstream request too, so nothing lingers.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

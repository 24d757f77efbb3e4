// The edge's bounds, apart from the edge itself: the config reads them, and a command that loads the config has no
// use for the HTTP server (gateway/edge.ts) they bound.

export interface EdgeLimits {
  /** Largest request body for the web app, the device API and everything but /mcp (bytes). */
  webBodyBytes: number;
  /** Largest request body for /mcp (bytes). */
  mcpBodyBytes: number;
  /** Time a client has to send all request headers (seconds). */
  headersTimeoutSeconds: number;
  /** Time a client has to send the whole request, body included (seconds). Responses (held calls, SSE) are not bounded by it. */
  requestTimeoutSeconds: number;
}

export const DEFAULT_LIMITS: EdgeLimits = { webBodyBytes: 64 * 1024, mcpBodyBytes: 1024 * 1024, headersTimeoutSeconds: 10, requestTimeoutSeconds: 30 };

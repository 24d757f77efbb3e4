import type { MiddlewareHandler } from 'hono';

/** Prometheus text metrics for the HTTP surface: request counts by route and status, and a latency histogram. */
export function createMetrics() {
  const counts = new Map<string, number>();
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const histogram = new Array<number>(buckets.length + 1).fill(0);
  let sum = 0;
  let total = 0;
  const started = Date.now();

  const middleware: MiddlewareHandler = async (c, next) => {
    const t0 = performance.now();
    await next();
    const seconds = (performance.now() - t0) / 1000;
    const route = c.req.path.startsWith('/mcp') ? '/mcp' : c.req.path.startsWith('/api/') ? '/api' : c.req.path === '/healthz' || c.req.path === '/metrics' ? c.req.path : 'web';
    const key = `route="${route}",method="${c.req.method}",status="${c.res.status}"`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const index = buckets.findIndex((b) => seconds <= b);
    histogram[index === -1 ? buckets.length : index] += 1;
    sum += seconds;
    total += 1;
  };

  function render(): string {
    const lines = [
      '# HELP countersign_http_requests_total HTTP requests by route, method and status.',
      '# TYPE countersign_http_requests_total counter',
      ...[...counts].map(([labels, n]) => `countersign_http_requests_total{${labels}} ${n}`),
      '# HELP countersign_http_request_duration_seconds HTTP request latency.',
      '# TYPE countersign_http_request_duration_seconds histogram',
    ];
    let cumulative = 0;
    buckets.forEach((b, i) => {
      cumulative += histogram[i];
      lines.push(`countersign_http_request_duration_seconds_bucket{le="${b}"} ${cumulative}`);
    });
    lines.push(`countersign_http_request_duration_seconds_bucket{le="+Inf"} ${total}`);
    lines.push(`countersign_http_request_duration_seconds_sum ${sum}`, `countersign_http_request_duration_seconds_count ${total}`);
    lines.push('# HELP countersign_uptime_seconds Seconds since start.', '# TYPE countersign_uptime_seconds gauge');
    lines.push(`countersign_uptime_seconds ${Math.round((Date.now() - started) / 1000)}`);
    return lines.join('\n') + '\n';
  }

  return { middleware, render };
}

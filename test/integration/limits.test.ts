import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';

/**
 * Every request body is bounded (DESIGN section 9, invariant 12), measured on a real `countersign start`: 300 MB
 * uploads to routes that need no credentials are answered 413 and the server's resident memory stays flat.
 */

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
}, 120_000);
afterAll(async () => {
  await server?.close();
});

const MB = 1024 * 1024;

/** Uploads `total` bytes as fast as the server takes them, until the server answers; returns the answer. */
function flood(path: string, total: number, declareLength: boolean, extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', host: `127.0.0.1:${server.port}`, ...extraHeaders };
    if (declareLength) headers['content-length'] = String(total);
    const req = request(`${server.url}${path}`, { method: 'POST', headers });
    const chunk = Buffer.alloc(MB, 0x61);
    let sent = 0;
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    // The server closes the connection after its 413 while the upload is still being written, so a write can fail
    // with ECONNRESET/EPIPE just before the parser hands over the answer it already received: wait for it briefly.
    req.on('error', (error) => void setTimeout(() => (answered ? undefined : reject(new Error(`${path} (${declareLength ? 'content-length' : 'chunked'}), ${sent} bytes sent: ${error.message}`))), 1000));
    const pump = () => {
      while (!answered && sent < total) {
        const part = total - sent < chunk.length ? chunk.subarray(0, total - sent) : chunk;
        sent += part.length;
        if (!req.write(part)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

/** Runs `work` while sampling the server's RSS every 20 ms; returns the work's result and the peak growth. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const before = server.rssBytes();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rssBytes())), 20);
  try {
    const result = await work();
    peak = Math.max(peak, server.rssBytes());
    return { result, growth: peak - before };
  } finally {
    clearInterval(sampler);
  }
}

describe.runIf(process.platform === 'linux')('body limits on a real server process', () => {
  it('answers 413 with a clear message to 300 MB posts to /api/v1/devices/pair and /signin/verify, RSS growth under 20 MB', async () => {
    // Warm up the routes first, so what is measured is the flood, not the first load of code.
    for (const path of ['/api/v1/devices/pair', '/signin/verify']) await flood(path, 1024, true);
    const { result, growth } = await peakGrowth(() =>
      Promise.all([
        flood('/api/v1/devices/pair', 300 * MB, true),
        flood('/signin/verify', 300 * MB, false),
        flood('/api/v1/devices/pair', 300 * MB, false),
        flood('/signin/verify', 300 * MB, true),
      ]),
    );
    for (const answer of result) {
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).error).toMatchObject({ code: 'too_large', message: expect.stringMatching(/larger than 65536 bytes \(64 KiB\)/) });
    }
    expect(growth, `RSS grew by ${(growth / MB).toFixed(1)} MB`).toBeLessThan(20 * MB);
    expect(server.alive()).toBe(true);
  }, 120_000);

  it('bounds /mcp at 1 MiB with a JSON-RPC error, and accepts a body just under the web limit', async () => {
    const { result, growth } = await peakGrowth(() => flood('/mcp', 300 * MB, false, { authorization: 'Bearer x', accept: 'application/json, text/event-stream' }));
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringMatching(/exceeds 1048576 bytes/) } });
    expect(growth).toBeLessThan(20 * MB);
    // 60 KB of JSON is under the limit: it reaches the route, which refuses it for what it is, not for its size.
    const under = await flood('/api/v1/devices/pair', 60 * 1024, true);
    expect(under.status).toBe(400);
  }, 120_000);

  it('answers CONNECT (a request to use the server as a proxy) with 405 and what to send instead, not a dropped connection', async () => {
    const socket = connect(server.port, '127.0.0.1');
    socket.write(`CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: 169.254.169.254:80\r\n\r\n`);
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      socket.on('data', (d) => (got += d.toString()));
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'method_not_allowed', message: expect.stringContaining('not a proxy') });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('cuts off a client that sends its headers too slowly (header timeout), and keeps serving', async () => {
    const socket = connect(server.port, '127.0.0.1');
    socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n`);
    const started = Date.now();
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 1000);
      socket.on('data', (d) => (got += d.toString()));
      socket.on('close', () => (clearInterval(drip), resolve(got)));
    });
    // Node answers 408 (or just closes) once the header timeout (10 s by default) passes.
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    expect(Date.now() - started).toBeLessThan(60_000);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  }, 90_000);
});

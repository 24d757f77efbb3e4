import { createServer, request, type Server } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Embedded PGlite is single-process: while a server runs, CLI commands that read or change state are sent to it
 * over a Unix socket in COUNTERSIGN_HOME (mode 0600, so only the owning user can use it). Without a server, the CLI
 * opens the database itself under a lock file, and a server started meanwhile refuses with a clear message.
 */

export interface CommandOutput {
  exitCode: number;
  stdout: string;
}

export const socketPath = (home: string) => join(home, 'admin.sock');
const lockPath = (home: string) => join(home, 'countersign.lock');

/**
 * `cli` is how the asking shell runs the CLI (gateway/invocation.ts), so that commands the server prints for it work
 * when pasted there, whatever the server's own working directory.
 */
export function startAdminSocket(home: string, run: (argv: string[], cli?: string) => Promise<CommandOutput>): Promise<Server> {
  const path = socketPath(home);
  if (existsSync(path)) rmSync(path);
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', async () => {
      let output: CommandOutput;
      try {
        const { argv, cli } = JSON.parse(body) as { argv: string[]; cli?: string };
        output = await run(argv, typeof cli === 'string' ? cli : undefined);
      } catch (error) {
        output = { exitCode: 1, stdout: `error: ${(error as Error).message}\n` };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(output));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      chmodSync(path, 0o600);
      resolve(server);
    });
  });
}

/** Sends a command to the running server; null when no server answers on the socket. */
export function sendToServer(home: string, argv: string[], cli?: string): Promise<CommandOutput | null> {
  const path = socketPath(home);
  if (!existsSync(path)) return Promise.resolve(null);
  return new Promise((resolve) => {
    const req = request({ socketPath: path, path: '/command', method: 'POST' }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as CommandOutput);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
    req.end(JSON.stringify({ argv, cli }));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data directory's lock, or throws naming the process that holds it. Returns a release function. */
export function takeLock(home: string, role: string): () => void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = lockPath(home);
  if (existsSync(path)) {
    const [pidText, holder] = readFileSync(path, 'utf8').split('\n');
    const pid = Number(pidText);
    if (pid && pid !== process.pid && alive(pid)) {
      throw new Error(
        `${home} is in use by another Countersign process (${holder ?? 'unknown'}, pid ${pid}). ` +
          'Stop it first, or run CLI commands while the server runs: they go through it.',
      );
    }
  }
  writeFileSync(path, `${process.pid}\n${role}\n`, { mode: 0o600 });
  return () => {
    try {
      if (readFileSync(path, 'utf8').startsWith(`${process.pid}\n`)) rmSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  };
}

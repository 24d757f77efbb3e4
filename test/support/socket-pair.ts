import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';

/** Two connected Unix sockets (`<dir>/<name>.sock`), as the supervisor's socket pair gives a child and the kernel. */
export async function socketPair(dir: string, name: string): Promise<[Socket, Socket]> {
  const path = join(dir, `${name}.sock`);
  const server = createServer();
  await new Promise<void>((ok) => server.listen(path, ok));
  const accepted = new Promise<Socket>((ok) => server.once('connection', ok));
  const client = connect(path);
  const other = await accepted;
  server.close();
  return [client, other];
}

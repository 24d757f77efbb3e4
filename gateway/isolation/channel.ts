import type { Duplex } from 'node:stream';
import type { Json, Message, Reply } from '../../kernel/index.ts';

/**
 * One private channel between two processes: the kernel's own envelope shapes as newline-delimited JSON over a Unix
 * socket pair that only the two ends hold. A frame is a call (`c`: id, the endpoint the sender speaks as, the
 * endpoint it is for, the body) or a reply (`r`: id, a plain-data Reply). The `from` of a call is only a claim: the
 * receiving end checks it against the names the channel is bound to (bridge.ts), it never believes it.
 */
export type Frame =
  | { c: number; from: string; to: string; body: Message }
  | { r: number; reply: Reply };

export type CallHandler = (from: string, to: string, body: Message) => Promise<Reply>;

export interface Channel {
  call(from: string, to: string, body: Message): Promise<Reply>;
  /** Calls in flight either way: sent and not yet answered, or received and not yet answered. */
  pending(): number;
  closed: Promise<void>;
  close(): void;
}

const MAX_FRAME = 16 * 1024 * 1024;

/**
 * A frame as one line. A reply this end cannot send (nested past what JSON.stringify can take, or over the frame
 * limit the other end enforces) goes as an error saying so: thrown here, it crashed the process with every call in
 * flight, and an executor's answer is what an upstream sent. The kernel treats a lost answer to an execute as it treats
 * a lost process (`upstream_unknown`: reconcile, never a blind rerun).
 */
function serialize(frame: Frame): string {
  let why: string;
  try {
    const line = JSON.stringify(frame);
    if (line.length <= MAX_FRAME || !('r' in frame)) return line;
    why = `it is larger than the ${MAX_FRAME / 1024 / 1024} MB a frame may carry`;
  } catch (error) {
    if (!('r' in frame)) throw error;
    why = (error as Error).message;
  }
  return JSON.stringify({ r: frame.r, reply: { ok: false, error: { code: 'upstream_unknown', message: `the answer could not be passed between processes (${why}), so what it said is unknown` } } });
}

/** Speaks the frame protocol on `socket`; `onCall` answers the other end's calls. */
export function openChannel(socket: Duplex, onCall: CallHandler): Channel {
  let next = 1;
  let handling = 0;
  const waiting = new Map<number, (reply: Reply) => void>();
  let buffer = '';
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  // A call in flight when the other process dies may or may not have acted there: say so (the kernel reconciles).
  const lost: Reply = { ok: false, error: { code: 'upstream_unknown', message: 'the process handling this call went away before it answered, so whether it acted is unknown' } };

  const write = (frame: Frame) => {
    if (!socket.destroyed) socket.write(`${serialize(frame)}\n`);
  };

  function receive(line: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(line) as Frame;
    } catch {
      socket.destroy(); // a peer that sends garbage is not a peer
      return;
    }
    if ('r' in frame) {
      const done = waiting.get(frame.r);
      waiting.delete(frame.r);
      done?.(frame.reply);
      return;
    }
    if (typeof frame.c !== 'number' || typeof frame.from !== 'string' || typeof frame.to !== 'string' || typeof frame.body !== 'object' || frame.body === null) {
      write({ r: Number(frame.c) || 0, reply: { ok: false, error: { code: 'bad_request', message: 'malformed frame' } } });
      return;
    }
    const id = frame.c;
    handling++;
    onCall(frame.from, frame.to, frame.body)
      .then(
        (reply) => write({ r: id, reply }),
        (error: unknown) => write({ r: id, reply: { ok: false, error: { code: 'internal', message: (error as Error).message } } }),
      )
      .finally(() => handling--);
  }

  socket.setEncoding?.('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    if (buffer.length > MAX_FRAME) {
      socket.destroy();
      return;
    }
    let at: number;
    while ((at = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      if (line) receive(line);
    }
  });
  const end = () => {
    for (const done of waiting.values()) done(lost);
    waiting.clear();
    resolveClosed();
  };
  socket.on('close', end);
  socket.on('error', () => socket.destroy());

  return {
    call(from, to, body) {
      if (socket.destroyed) return Promise.resolve(lost);
      const id = next++;
      return new Promise<Reply>((resolve) => {
        waiting.set(id, resolve);
        write({ c: id, from, to, body });
      });
    },
    pending: () => waiting.size + handling,
    closed,
    close: () => socket.destroy(),
  };
}

/** The value of a reply, or its error thrown as the kernel error it names. */
export function unwrap(reply: Reply, toError: (code: string, message: string) => Error): Json {
  if (reply.ok) return reply.value;
  throw toError(reply.error.code, reply.error.message);
}

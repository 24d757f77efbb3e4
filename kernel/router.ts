import { randomUUID } from 'node:crypto';
import type { Json } from './types.ts';
import { KernelError, asKernelError } from './errors.ts';

/** A message body: an opcode plus JSON fields. Each service declares its own closed union of these. */
export interface Message {
  op: string;
  [field: string]: Json | undefined;
}

/** What a handler receives. The router stamps `from` from the sending port: the only trustworthy word on the sender. */
export type Envelope<M extends Message = Message> = { id: string; from: string; to: string; body: M };

/** Replies are plain data so that the same shapes work when a service lives in another process. */
export type Reply = { ok: true; value: Json } | { ok: false; error: { code: string; message: string } };

export type Handler = (envelope: Envelope) => Promise<Json>;

/** What a port may send: `endpoint:op`, where a trailing `*` in either part matches any suffix (`connector.*:describe`). */
export type Capability = `${string}:${string}`;

export interface Port {
  readonly name: string;
  send<T extends Json = Json>(to: string, body: Message): Promise<T>;
}

/** Called for every refusal, so the audit log can record it. Must not throw. */
export type RefusalSink = (refusal: { from: string; to: string; op: string; reason: string }) => Promise<void>;

export interface Router {
  register(name: string, handler: Handler, capabilities: readonly Capability[]): Port;
  /** Delivery with an explicit, already-authenticated sender: used by transports that bridge another process. */
  deliver(from: string, to: string, body: Message): Promise<Reply>;
  endpoints(): string[];
}

function matches(pattern: string, value: string): boolean {
  return pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : pattern === value;
}

export function allows(capabilities: readonly Capability[], to: string, op: string): boolean {
  return capabilities.some((capability) => {
    const at = capability.indexOf(':');
    return matches(capability.slice(0, at), to) && matches(capability.slice(at + 1), op);
  });
}

export function createRouter(onRefusal: RefusalSink): Router {
  const table = new Map<string, { handler: Handler; capabilities: readonly Capability[] }>();

  async function deliver(from: string, to: string, body: Message): Promise<Reply> {
    const [sender, target] = [table.get(from), table.get(to)];
    const op = typeof body?.op === 'string' ? body.op : '';
    // Refusals reveal nothing about which endpoints exist: unknown target and missing capability read the same.
    if (!sender || !target || !allows(sender.capabilities, to, op)) {
      const reason = !sender ? 'unknown sender' : !target ? 'no such endpoint' : 'capability not held';
      await onRefusal({ from, to, op, reason });
      return { ok: false, error: { code: 'capability_refused', message: `${from} may not send ${op || '(no op)'} to ${to}` } };
    }
    try {
      return { ok: true, value: await target.handler({ id: randomUUID(), from, to, body }) };
    } catch (error) {
      return { ok: false, error: asKernelError(error).toJSON() };
    }
  }

  return {
    register(name, handler, capabilities) {
      if (table.has(name)) throw new KernelError('bad_request', `endpoint ${name} is already registered`);
      table.set(name, { handler, capabilities });
      return {
        name,
        async send<T extends Json = Json>(to: string, body: Message): Promise<T> {
          const reply = await deliver(name, to, body);
          if (!reply.ok) throw new KernelError(reply.error.code as KernelError['code'], reply.error.message);
          return reply.value as T;
        },
      };
    },
    deliver,
    endpoints: () => [...table.keys()],
  };
}

import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  CAPABILITIES,
  KernelError,
  asKernelError,
  type Envelope,
  type Handler,
  type Json,
  type Message,
  type Port,
  type Reply,
  type Router,
} from '../../kernel/index.ts';
import { openChannel, type Channel } from './channel.ts';

/**
 * Both ends of a child's channel. In the kernel process, `bindChild` delivers the child's calls to the real router
 * under a sender stamped from the channel; in the child, `childRouter` gives the services there a Router whose
 * ports send over the channel, so the same service code runs in one process or across processes.
 */

const toError = (reply: Extract<Reply, { ok: false }>) => new KernelError(reply.error.code as KernelError['code'], reply.error.message);

/**
 * Kernel side. `names` are the endpoints this child may speak as (the edge: `gateway` and `web`; an executor: its
 * `connector.<name>`): the channel, not the message, says who sent it. A frame claiming any other sender is delivered
 * as `<child> (claiming <name>)`, a sender the router does not know, so it is refused and audited by the router's own
 * sink like every other refusal. Everything else is the router's usual capability check.
 */
export function bindChild(router: Router, socket: Duplex, child: string, names: readonly string[]): Channel {
  return openChannel(socket, (from, to, body) => router.deliver(names.includes(from) ? from : `${child} (claiming ${from})`, to, body));
}

/**
 * A connector endpoint of the kernel's router whose executor lives in a child: calls go over whichever channel the
 * executor has now (a restarted one gets a new one). With no executor connected, nothing was sent, so nothing happened.
 */
export function proxyConnector(router: Router, name: string, current: () => Channel | null): Port {
  return router.register(name, forwarder(name, current), CAPABILITIES.connector);
}

/** A handler that passes calls to an endpoint over whichever channel serves it now (a connector's, or the edge's). */
export function forwarder(name: string, current: () => Channel | null): Handler {
  return async ({ from, to, body }: Envelope): Promise<Json> => {
    const channel = current();
    if (!channel) throw new KernelError('upstream_error', `the process serving ${name} is not running (it restarts by itself); nothing was sent to it, try again`);
    const reply = await channel.call(from, to, body);
    if (!reply.ok) throw toError(reply);
    return reply.value;
  };
}

/** Child side: a Router whose local endpoints answer the kernel, and whose ports send over the channel. */
export function childRouter(socket: Duplex): Router & { channel: Channel } {
  const local = new Map<string, Handler>();
  const channel = openChannel(socket, async (from, to, body): Promise<Reply> => {
    const handler = local.get(to);
    if (!handler) return { ok: false, error: { code: 'capability_refused', message: `${from} may not send ${String(body.op)} to ${to}` } };
    try {
      return { ok: true, value: await handler({ id: randomUUID(), from, to, body }) };
    } catch (error) {
      return { ok: false, error: asKernelError(error).toJSON() };
    }
  });
  return {
    channel,
    // Capabilities are enforced by the kernel's router, which holds this child's lists; here they are documentation.
    register(name, handler, _capabilities) {
      if (local.has(name)) throw new KernelError('bad_request', `endpoint ${name} is already registered`);
      local.set(name, handler);
      return {
        name,
        async send<T extends Json = Json>(to: string, body: Message): Promise<T> {
          const reply = await channel.call(name, to, body);
          if (!reply.ok) throw toError(reply);
          return reply.value as T;
        },
      };
    },
    deliver: (from, to, body) => channel.call(from, to, body),
    endpoints: () => [...local.keys()],
  };
}

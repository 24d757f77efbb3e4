import { KernelError } from '../../kernel/index.ts';
import type { ExecuteContext } from '../spec.ts';

/** Small guards the write tools share: refusing a request in `describe`, and reading the approved pins. */

/** A request that cannot do what it asks (a missing branch, an already merged PR): the agent must change it. */
export function refuse(message: string): KernelError {
  return new KernelError('invalid_arguments', message);
}

/** A string pin the approval was given against; the host has already re-checked it against upstream. */
export function pinned(ctx: ExecuteContext, key: string): string {
  const value = ctx.pins[key];
  if (typeof value !== 'string' || !value) {
    throw new KernelError('pin_drift', `The approved request has no "${key}" pin; describe the request again and have it approved.`);
  }
  return value;
}

/**
 * The hidden marker a write leaves in the text it creates, so a reconcile can find it after a crash. It is the kernel's
 * keyed marker, not the request id: an agent could write "<!-- countersign-request: req_... -->" into any issue.
 */
export function marker(ctx: ExecuteContext): string {
  return `<!-- countersign-request: ${ctx.marker} -->`;
}

export function withMarker(text: string | undefined, ctx: ExecuteContext): string {
  return text ? `${text}\n\n${marker(ctx)}` : marker(ctx);
}

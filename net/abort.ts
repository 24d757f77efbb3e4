/**
 * One listener on a long-lived AbortSignal serving every operation that waits on it. A signal that lives as long as a
 * server or a transport (the MCP handler's stop signal, the SDK client transport's signal) sees many operations at
 * once; a listener each would pile up (Node warns past 10 on a signal, as for a leak) and cost a scan per add. Each
 * operation adds a Set entry instead, and removes it when it ends.
 */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `stop` when `signal` aborts (not when it has already: check `signal.aborted` first); returns its removal. */
export function whenAborted(signal: AbortSignal, stop: () => void): () => void {
  let set = waiting.get(signal);
  if (!set) {
    const all = (set = new Set());
    waiting.set(signal, all);
    signal.addEventListener('abort', () => { for (const f of [...all]) f(); }, { once: true });
  }
  set.add(stop);
  return () => void waiting.get(signal)?.delete(stop);
}

/** How many operations still wait on `signal` (tests, diagnostics). */
export const underWay = (signal: AbortSignal): number => waiting.get(signal)?.size ?? 0;

/**
 * Shares one run of `run` among the callers that ask while it cannot start yet, as group commit does: each call
 * resolves with a run that began after the call was made (never one already under way, which may have missed what
 * the caller did just before it asked), and calls made while a run is under way all share the next one. Used for the
 * executor's journal flush (tools/journal.ts) and a downstream MCP server's tool list (tools/mcp/downstream.ts).
 */
export function coalesced(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  let next: Promise<void> | null = null;
  return () =>
    (next ??= running
      .catch(() => {})
      .then(() => {
        next = null;
        return (running = run());
      }));
}

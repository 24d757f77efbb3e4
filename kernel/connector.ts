import type { Consequence, Impact, Intent, JsonObject, RequestBody, ToolResult } from './types.ts';

/**
 * The messages the kernel sends to a connector endpoint (`connector.<name>`). A connector owns its tools'
 * schemas, describers and executors; it is the only place that holds upstream credentials.
 */
export type ConnectorMessage =
  | { op: 'tools.list' }
  /** Validate the arguments and compute the canonical intent and pins from trusted look-ups. */
  | { op: 'describe'; tool: string; args: JsonObject }
  /** Execute with a grant: the connector verifies it, consumes it through the kernel, re-checks the pins. */
  /** `marker`: derived from the request id with the kernel key; writes that carry text leave it there for reconcile. */
  /** `call`: the gateway's id of the tools/call this runs inside (flow.ts), or null (after an approval, a recovery). */
  | { op: 'execute'; body: RequestBody; digest: string; grant: string; marker: string; call?: string | null }
  /** After a crash mid-execution: find out whether the upstream call happened, and its result if it did. */
  | { op: 'reconcile'; body: RequestBody; marker: string };

/** What `tools.list` returns for each tool: plain JSON, so it crosses process boundaries. */
export interface ToolInfo {
  name: string;
  title: string;
  description: string;
  /** JSON Schema of the arguments. */
  inputSchema: JsonObject;
  impact: Impact;
  consequence: Consequence;
  connector: string;
  sandbox: boolean;
}

/** `args` as validated (defaults applied): these, not the raw ones, are what is digested and executed. */
export type DescribeReply = { args: JsonObject; intent: Intent };

export type ExecuteReply = ToolResult;
/**
 * Whether an execution whose outcome was lost reached upstream. `not_happened` only with proof that running it again
 * cannot make a second effect (`proof` says which: an idempotency key, an upstream that refuses a second merge);
 * otherwise `cannot_tell`, with where a human can look (`check`), and the request waits for that human.
 */
export type ReconcileReply =
  | { answer: 'happened'; result: ToolResult }
  | { answer: 'not_happened'; proof: string }
  | { answer: 'cannot_tell'; why: string; check: string };

import type { z } from 'zod';
import type { Consequence, Impact, Intent, JsonObject, ToolResult } from '../kernel/index.ts';
import type { Progress } from './executions.ts';

/** Everything an executor gets besides the validated arguments. */
export interface ExecuteContext {
  requestId: string;
  /** Derived from the request id: send it as `Idempotency-Key` (Stripe) so a retry never repeats a write. */
  idempotencyKey: string;
  /** The pins the approval was given against (already re-checked by the host before `execute` runs). */
  pins: JsonObject;
  /**
   * A marker the kernel derived from the request id with its key. Writes that carry free text (issue bodies, comments)
   * end with it, and `reconcile` looks for it: an agent can write text upstream but cannot compute another request's marker.
   */
  marker: string;
  /**
   * Aborted, with the reason, when the agent cancels its call. A tool that can stop its upstream call passes it on, and
   * says honestly what a stop means: nothing sent (`cancelled`), or sent and perhaps done (`upstream_unknown`).
   */
  signal?: AbortSignal;
  /** Reports upstream progress; it reaches the agent's progress token (tools/executions.ts). */
  progress?: (update: Progress) => void;
}

/** The intent a describer returns; the host adds `sandbox` from the connector. */
export type Described = Omit<Intent, 'sandbox'>;

/**
 * One tool of a connector. `name` matches `^[a-z0-9_]{1,64}$` and starts with the connector's name.
 * `describe` and `execute` get arguments already validated by `input`.
 */
export interface ToolSpec<S extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: S;
  impact: Impact;
  consequence: Consequence;
  describe(args: z.infer<S>): Promise<Described>;
  execute(args: z.infer<S>, ctx: ExecuteContext): Promise<ToolResult>;
  /**
   * Optional, for writes: after a crash between the upstream call and recording its result, say whether the call
   * happened (by looking upstream, e.g. by idempotency key or current state) and what it returned.
   */
  reconcile?(args: z.infer<S>, ctx: ExecuteContext): Promise<ToolResult | null>;
  /**
   * Why running again cannot make a second effect when `reconcile` found nothing (an idempotency key Stripe replays,
   * a merge GitHub refuses twice). Without it, "found nothing" is not proof, and the request waits for a human.
   */
  rerunSafe?: string;
  /** Where a human looks upstream to see whether it ran (a link), when that cannot be told. */
  check?(args: z.infer<S>): string;
}

export interface Connector {
  name: string;
  /** True when talking to the local sandbox upstream instead of the real API. */
  sandbox: boolean;
  tools: ToolSpec[];
}

/** Identity helper that keeps the schema's inferred type on describe/execute. */
export function defineTool<S extends z.ZodObject>(spec: ToolSpec<S>): ToolSpec {
  return spec as unknown as ToolSpec;
}

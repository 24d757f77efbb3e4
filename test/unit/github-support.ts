import type { Intent, ToolResult } from '../../kernel/index.ts';
import { KernelError } from '../../kernel/index.ts';
import { createGithubConnector, startGithubSandbox, type GithubSandbox } from '../../tools/github/index.ts';
import type { Connector, Described, ExecuteContext, ToolSpec } from '../../tools/spec.ts';

/** A sandbox plus a connector talking to it, and the host's call sequence (validate, describe, execute) in one step. */

export const TOKEN = 'ghp_TestTokenThatMustNeverLeak0123456789';

export interface Harness {
  sandbox: GithubSandbox;
  connector: Connector;
  tool(name: string): ToolSpec;
  describe(name: string, args: Record<string, unknown>): Promise<Described>;
  /** Validates, describes, and executes with the described pins, as the host does after a grant. */
  run(name: string, args: Record<string, unknown>, requestId?: string): Promise<{ intent: Described; result: ToolResult }>;
  reconcile(name: string, args: Record<string, unknown>, pins: Intent['pins'], requestId?: string): Promise<ToolResult | null>;
  /** Everything any tool returned or threw, for the token scan. */
  seen: unknown[];
  close(): Promise<void>;
}

export function context(requestId: string, pins: Intent['pins']): ExecuteContext {
  return { requestId, idempotencyKey: `cs-${requestId}`, pins, marker: `m-${requestId}` };
}

export async function harness(): Promise<Harness> {
  const sandbox = await startGithubSandbox();
  const connector = createGithubConnector({ token: TOKEN, baseUrl: sandbox.url, sandbox: true });
  const seen: unknown[] = [];
  const tool = (name: string) => {
    const found = connector.tools.find((t) => t.name === name);
    if (!found) throw new Error(`no tool ${name}`);
    return found;
  };
  const record = async <T>(p: Promise<T>): Promise<T> => {
    try {
      const value = await p;
      seen.push(value);
      return value;
    } catch (error) {
      seen.push(error instanceof KernelError ? { ...error.toJSON(), details: error.details } : String(error));
      throw error;
    }
  };
  const describe = (name: string, args: Record<string, unknown>) => record(tool(name).describe(tool(name).input.parse(args)));
  return {
    sandbox, connector, tool, describe, seen,
    async run(name, args, requestId = 'req-1') {
      const intent = await describe(name, args);
      const result = await record(tool(name).execute(tool(name).input.parse(args), context(requestId, intent.pins)));
      return { intent, result };
    },
    reconcile(name, args, pins, requestId = 'req-1') {
      const t = tool(name);
      if (!t.reconcile) throw new Error(`${name} has no reconcile`);
      return record(t.reconcile(t.input.parse(args), context(requestId, pins)));
    },
    close: () => sandbox.close(),
  };
}

/** The KernelError a promise rejects with (fails the test if it resolves or throws something else). */
export async function kernelError(p: Promise<unknown>): Promise<KernelError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof KernelError) return error;
    throw new Error(`expected a KernelError, got ${String(error)}`);
  }
  throw new Error('expected a KernelError, but the call succeeded');
}

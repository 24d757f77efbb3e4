import { z } from 'zod';
import {
  CAPABILITIES,
  KernelError,
  asKernelError,
  jcs,
  requestDigest,
  verifyGrant,
  type ConnectorMessage,
  type DescribeReply,
  type Envelope,
  type Json,
  type JsonObject,
  type Port,
  type ReconcileReply,
  type RequestBody,
  type Router,
  type ToolInfo,
  type ToolResult,
} from '../kernel/index.ts';
import type { Connector, ExecuteContext, ToolSpec } from './spec.ts';
import type { GrantJournal } from './journal.ts';
import { createExecutions, type ExecutionCancel } from './executions.ts';

/**
 * Serves a connector as the router endpoint `connector.<name>`. This is the executor boundary: it validates
 * arguments, and before any upstream write it checks that the grant is genuine, bound to this exact request,
 * not expired and not used before (consumed through the kernel), and that the pinned upstream state still holds.
 */
export function serveConnector(router: Router, connector: Connector, kernelPublicKey: CryptoKey, options: { journal?: GrantJournal } = {}): Port {
  const endpoint = `connector.${connector.name}`;
  const port = router.register(endpoint, (envelope) => handle(envelope), CAPABILITIES.connector);
  const executions = createExecutions(port);

  function spec(name: string): ToolSpec {
    // Looked up on each call: a downstream MCP server's tools change while it runs.
    const tool = connector.tools.find((t) => t.name === name);
    if (!tool) throw new KernelError('unknown_tool', `connector ${connector.name} has no tool "${name}"`);
    return tool;
  }

  async function describe(tool: ToolSpec, raw: JsonObject): Promise<DescribeReply> {
    const args = validate(tool, raw);
    const described = await tool.describe(args);
    return { args, intent: { ...described, sandbox: connector.sandbox } };
  }

  async function handle(envelope: Envelope): Promise<Json> {
    const m = envelope.body as ConnectorMessage | ExecutionCancel;
    switch (m.op) {
      case 'tools.list':
        return connector.tools.map((tool) => toolInfo(connector, tool) as unknown as JsonObject);
      case 'describe':
        return (await describe(spec(m.tool), m.args)) as unknown as JsonObject;
      case 'execute': {
        const body = m.body;
        const tool = spec(body.tool);
        if (requestDigest(body) !== m.digest) {
          throw new KernelError('digest_mismatch', 'the request does not match the digest it was approved under; nothing was executed');
        }
        const execution = executions.start(body.requestId, body.principal.agentId, typeof m.call === 'string' ? m.call : null);
        try {
          const claims = await verifyGrant(kernelPublicKey, m.grant, { digest: m.digest, tool: body.tool });
          await port.send('kernel', { op: 'grant.consume', jti: claims.jti, digest: m.digest });
          // The executor's own word on top of the kernel's: a grant it has used once it never uses again (tools/journal.ts),
          // on disk before anything that can change upstream runs.
          await options.journal?.use(claims.jti, claims.expiresAt, tool.impact !== 'read');
          const now = await describe(tool, body.args).catch((error: unknown) => {
            // The same arguments described fine when approved; refusing now means upstream moved since.
            const e = asKernelError(error);
            if (e.code !== 'invalid_arguments') throw e;
            throw new KernelError('pin_drift', `upstream state changed since approval: ${e.message}; nothing was executed`);
          });
          checkPins(body.pins, now.intent.pins);
          if (execution.signal.aborted) throw new KernelError('cancelled', `${String(execution.signal.reason)} before it ran; nothing was executed`);
          const ctx = { ...context(body, m.marker), signal: execution.signal, progress: execution.progress };
          return (await tool.execute(now.args, ctx)) as unknown as JsonObject;
        } finally {
          execution.end();
        }
      }
      case 'execution.cancel':
        return executions.cancel(m);
      case 'reconcile':
        return (await reconcile(spec(m.body.tool), m.body, m.marker)) as unknown as JsonObject;
      default:
        throw new KernelError('bad_request', `unknown connector op "${(m as { op: string }).op}"`);
    }
  }
  return port;
}

function context(body: RequestBody, marker: string): ExecuteContext {
  return { requestId: body.requestId, idempotencyKey: `countersign-${body.requestId}`, pins: body.pins, marker };
}

/**
 * The three answers of reconcile: found upstream (`happened`, with the result), not found where running again is
 * proven harmless (`not_happened`, with the proof), or not found without such proof (`cannot_tell`: a human checks).
 */
async function reconcile(tool: ToolSpec, body: RequestBody, marker: string): Promise<ReconcileReply> {
  const args = validate(tool, body.args);
  let found: ToolResult | null = null;
  try {
    found = tool.reconcile ? await tool.reconcile(args, context(body, marker)) : null;
  } catch (error) {
    // A connector that looked and saw something it cannot explain says so with upstream_unknown: a human looks.
    const e = asKernelError(error);
    if (e.code !== 'upstream_unknown') throw e;
    return { answer: 'cannot_tell', why: e.message, check: tool.check?.(args) ?? `the upstream system for ${tool.name}` };
  }
  if (found) return { answer: 'happened', result: found };
  if (tool.rerunSafe) return { answer: 'not_happened', proof: tool.rerunSafe };
  const why = tool.reconcile ? `${tool.title.toLowerCase()} left no trace upstream that proves it ran, and running it again could do it twice` : `${tool.name} cannot look upstream for what it did`;
  return { answer: 'cannot_tell', why, check: tool.check?.(args) ?? `the upstream system for ${tool.name}` };
}

/** Validates arguments with the tool's schema; the error names each bad field and what was expected. */
export function validate(tool: ToolSpec, raw: unknown): JsonObject {
  const parsed = tool.input.safeParse(raw ?? {});
  if (parsed.success) return parsed.data as JsonObject;
  const problems = parsed.error.issues.map((issue) => `${['args', ...issue.path.map(String)].join('.')}: ${issue.message}`);
  throw new KernelError('invalid_arguments', `invalid arguments for ${tool.name}: ${problems.join('; ')}`, { problems });
}

/** Refuses execution when the upstream state the approval was given against has moved, saying what changed. */
export function checkPins(approved: JsonObject, current: JsonObject): void {
  if (jcs(approved) === jcs(current)) return;
  const keys = new Set([...Object.keys(approved), ...Object.keys(current)]);
  const changes = [...keys]
    .filter((key) => jcs(approved[key] ?? null) !== jcs(current[key] ?? null))
    .map((key) => `${key} was ${jcs(approved[key] ?? null)}, now ${jcs(current[key] ?? null)}`);
  throw new KernelError('pin_drift', `upstream state changed since approval (${changes.join('; ')}); nothing was executed. Ask again so a human can approve the current state.`);
}

export function toolInfo(connector: Connector, tool: ToolSpec): ToolInfo {
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: z.toJSONSchema(tool.input) as JsonObject,
    impact: tool.impact,
    consequence: tool.consequence,
    connector: connector.name,
    sandbox: connector.sandbox,
  };
}

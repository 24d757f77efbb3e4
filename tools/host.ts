import { z } from 'zod';
import {
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
  type RequestBody,
  type Router,
  type ToolInfo,
} from '../kernel/index.ts';
import type { Connector, ExecuteContext, ToolSpec } from './spec.ts';

/**
 * Serves a connector as the router endpoint `connector.<name>`. This is the executor boundary: it validates
 * arguments, and before any upstream write it checks that the grant is genuine, bound to this exact request,
 * not expired and not used before (consumed through the kernel), and that the pinned upstream state still holds.
 */
export function serveConnector(router: Router, connector: Connector, kernelPublicKey: CryptoKey): Port {
  const byName = new Map(connector.tools.map((tool) => [tool.name, tool]));
  const endpoint = `connector.${connector.name}`;
  const port = router.register(endpoint, (envelope) => handle(envelope), ['kernel:grant.consume']);

  function spec(name: string): ToolSpec {
    const tool = byName.get(name);
    if (!tool) throw new KernelError('unknown_tool', `connector ${connector.name} has no tool "${name}"`);
    return tool;
  }

  async function describe(tool: ToolSpec, raw: JsonObject): Promise<DescribeReply> {
    const args = validate(tool, raw);
    const described = await tool.describe(args);
    return { args, intent: { ...described, sandbox: connector.sandbox } };
  }

  async function handle(envelope: Envelope): Promise<Json> {
    const m = envelope.body as ConnectorMessage;
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
        const claims = await verifyGrant(kernelPublicKey, m.grant, { digest: m.digest, tool: body.tool });
        await port.send('kernel', { op: 'grant.consume', jti: claims.jti, digest: m.digest });
        const now = await describe(tool, body.args).catch((error: unknown) => {
          // The same arguments described fine when approved; refusing now means upstream moved since.
          const e = asKernelError(error);
          if (e.code !== 'invalid_arguments') throw e;
          throw new KernelError('pin_drift', `upstream state changed since approval: ${e.message}; nothing was executed`);
        });
        checkPins(body.pins, now.intent.pins);
        return (await tool.execute(now.args, context(body))) as unknown as JsonObject;
      }
      case 'reconcile': {
        const tool = spec(m.body.tool);
        if (!tool.reconcile) return { happened: false };
        const result = await tool.reconcile(validate(tool, m.body.args), context(m.body));
        return result ? { happened: true, result: result as unknown as JsonObject } : { happened: false };
      }
      default:
        throw new KernelError('bad_request', `unknown connector op "${(m as { op: string }).op}"`);
    }
  }
  return port;
}

function context(body: RequestBody): ExecuteContext {
  return { requestId: body.requestId, idempotencyKey: `countersign-${body.requestId}`, pins: body.pins };
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

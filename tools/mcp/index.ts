/**
 * The `mcp` connector: any downstream MCP server behind Countersign. Each downstream tool is offered to agents as
 * `<server>_<tool>` and goes through describe, policy, approval, grant and audit like every other tool. Nothing the
 * server says is trusted: its annotations never relax impact (unlisted tools are `high`), its definitions are pinned
 * and a changed one is quarantined, and its intent comes from an operator's descriptor or is generic and honest.
 */
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { KernelError, asKernelError, type Impact, type JsonObject, type ToolResult } from '../../kernel/index.ts';
import type { Connector, Described, ExecuteContext, ToolSpec } from '../spec.ts';
import { describedFields, fill, loadDescriptor, type Descriptors } from './descriptor.ts';
import { Downstream, type McpServerConfig } from './downstream.ts';
import { definitionHash, quarantineReason, readTrust, writeTrust, type TrustFile } from './trust.ts';

export type { McpServerConfig } from './downstream.ts';
export { writeTrust, readTrust } from './trust.ts';
export { Downstream } from './downstream.ts';

/** `files` + `write_file` -> `files_write_file`, within `^[a-z0-9_]{1,64}$`. */
export function toolName(server: string, tool: string): string {
  return `${server}_${tool.toLowerCase().replace(/[^a-z0-9_]+/g, '_')}`.slice(0, 64);
}

export interface McpConnector extends Connector {
  downstreams: Downstream[];
  close(): Promise<void>;
}

/**
 * Connects every configured server (a server down at start stays listed as down and is retried) and serves their
 * tools. `onToolsChanged` fires when a server's tool list changes, so the kernel can re-read the tool index.
 */
export async function createMcpConnector(options: { servers: Record<string, McpServerConfig>; home: string; onToolsChanged?: () => void }): Promise<McpConnector> {
  const downstreams: Downstream[] = [];
  const descriptors = new Map<string, Descriptors>();
  const connector: McpConnector = {
    name: 'mcp',
    sandbox: false,
    tools: [],
    downstreams,
    async close() {
      await Promise.all(downstreams.map((d) => d.close()));
    },
  };
  const rebuild = () => {
    connector.tools = downstreams.flatMap((d) => d.tools.map((t) => spec(d, t)));
    options.onToolsChanged?.();
  };

  for (const [server, config] of Object.entries(options.servers)) {
    if (!/^[a-z][a-z0-9]{0,15}$/.test(server)) {
      throw new KernelError('config_error', `connectors.mcp.servers.${server}: a server name is 1 to 16 lowercase letters or digits, starting with a letter (it prefixes its tools' names)`);
    }
    if (Boolean(config.command) === Boolean(config.url)) {
      throw new KernelError('config_error', `connectors.mcp.servers.${server}: give either command (stdio) or url (Streamable HTTP)`);
    }
    if (config.descriptor) descriptors.set(server, loadDescriptor(config.descriptor));
    downstreams.push(new Downstream(server, config, rebuild));
  }
  await Promise.all(downstreams.map((d) => d.start()));
  // Trust on first start: a server seen for the first time has its current definitions recorded.
  for (const d of downstreams) if (d.state === 'up' && !readTrust(options.home, d.name)) writeTrust(options.home, d.name, d.tools, 'first-start');
  rebuild();
  return connector;

  function spec(d: Downstream, tool: Tool): ToolSpec {
    const server = d.name;
    const config = options.servers[server]!;
    const impact: Impact = config.tools?.[tool.name]?.impact ?? 'high';
    const descriptor = descriptors.get(server)?.[tool.name];
    const input = inputSchema(tool);

    function check(): Tool {
      // The definition current now, checked against the trusted one: quarantine applies to describe and execute alike.
      const current = d.tools.find((t) => t.name === tool.name);
      if (!current) throw new KernelError('unknown_tool', `MCP server ${server} no longer offers ${tool.name}`);
      const trust: TrustFile | null = readTrust(options.home, server);
      const reason = trust ? quarantineReason(trust, current, server) : `MCP server ${server} has not been trusted yet. An operator runs: countersign mcp trust ${server}`;
      if (reason) throw new KernelError('upstream_error', reason, { quarantined: true });
      return current;
    }

    async function lookups(args: JsonObject): Promise<JsonObject> {
      const pins: JsonObject = {};
      for (const look of descriptor?.lookups ?? []) {
        const lookArgs = Object.fromEntries(Object.entries(look.args).map(([k, v]) => [k, fill(v, args, server)]));
        const answer = await d.call(look.tool, lookArgs).catch(() => null);
        pins[look.pin] = answer && !answer.isError ? keep(answer, look.keep) : null;
      }
      return pins;
    }

    return {
      name: toolName(server, tool.name),
      title: tool.title ?? tool.annotations?.title ?? `${tool.name} (MCP server ${server})`,
      description: `${tool.description ?? ''} [MCP server ${server}]`.trim(),
      input,
      impact,
      // Without a descriptor nobody has said what a write does: unknown, never a reassuring guess.
      consequence: descriptor?.consequence ?? (impact === 'read' ? 'reads' : 'unknown'),
      // A downstream server offers no way to look up what a call did: a human looks there.
      check: () => `MCP server ${server}, for what ${tool.name} would have changed`,
      async describe(args: JsonObject): Promise<Described> {
        // Writes re-read the definitions first: describe runs again just before execution, so a definition changed
        // after approval is caught there too (quarantine, or a drifted `definition` pin).
        if (impact !== 'read') await d.refreshNow();
        d.assertUp();
        const current = check();
        const pins: JsonObject = { definition: definitionHash(current), ...(await lookups(args)) };
        if (descriptor) {
          const { fields, agentText } = describedFields(descriptor, args);
          return {
            summary: fill(descriptor.summary, args, server),
            consequence: descriptor.consequence,
            reversible: descriptor.reversible,
            fields: [{ label: 'MCP server', kind: 'text', value: server }, ...fields],
            pins,
            ...(agentText.length ? { agentText } : {}),
          };
        }
        const text = Object.entries(args).map(([key, value]) => ({ label: `Argument ${key}`, text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) }));
        return {
          summary: `Call ${tool.name} on MCP server ${server} (no intent descriptor: what it does is not described)`,
          consequence: impact === 'read' ? 'reads' : 'unknown',
          reversible: false,
          fields: [{ label: 'MCP server', kind: 'text', value: server }, { label: 'Tool', kind: 'text', value: tool.name }],
          pins,
          ...(text.length ? { agentText: text } : {}),
        };
      },
      async execute(args: JsonObject, ctx: ExecuteContext): Promise<ToolResult> {
        check();
        const answer = await d.call(tool.name, args, { signal: ctx.signal, onprogress: ctx.progress }).catch((error: unknown) => {
          // A write that reached the server and was then stopped (cancelled, timed out, the server gone) may have acted.
          // It ends unknown, for a human to settle; never failed, which an agent reads as "did not happen" and repeats.
          const e = asKernelError(error);
          if (impact !== 'read' && e.details?.stopped) throw new KernelError('upstream_unknown', `${e.message}; whether it acted is unknown`, { ...e.details });
          throw e;
        });
        const text = textOf(answer);
        if (answer.isError) throw new KernelError('upstream_error', `MCP server ${server} answered ${tool.name} with an error: ${text.slice(0, 2000)}`);
        const data = (answer.structuredContent ?? { content: answer.content }) as JsonObject;
        return { data, text };
      },
    };
  }
}

/** The downstream's JSON Schema as the tool's input: validated by zod built from it, shown to agents as the server gave it. */
function inputSchema(tool: Tool): z.ZodObject {
  try {
    const schema = z.fromJSONSchema(tool.inputSchema as Parameters<typeof z.fromJSONSchema>[0]);
    if (schema instanceof z.ZodObject) return schema;
  } catch {
    // A schema zod cannot express: fall back to any object; the downstream server validates again.
  }
  return z.object({}).passthrough();
}

function textOf(result: CallToolResult): string {
  return (result.content ?? []).map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

/** The `key: value` lines (or structured fields) of a look-up's answer that an approval is pinned to. */
function keep(result: CallToolResult, keys: string[]): JsonObject {
  const out: JsonObject = {};
  const structured = result.structuredContent as JsonObject | undefined;
  const text = textOf(result);
  for (const key of keys) {
    const line = new RegExp(`^${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\s*(.*)$`, 'm').exec(text);
    out[key] = structured && key in structured && typeof structured[key] !== 'object' ? structured[key]! : line ? line[1]! : null;
  }
  return out;
}

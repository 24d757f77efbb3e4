import type { Tool, CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalRecord, RequestView, ToolInfo } from '../../kernel/index.ts';

/** What agents see in `tools/list`, and how a kernel request reads back to them as a tool result. */

export const AWAIT_TOOL = 'countersign_await';
export const REQUESTS_TOOL = 'countersign_requests';

/**
 * MCP annotations derive from the connector's declared impact and consequence, never from anything an upstream says.
 * Every Countersign tool reaches an outside system, so all are open-world.
 */
export function annotate(tool: ToolInfo): NonNullable<Tool['annotations']> {
  const read = tool.impact === 'read';
  return {
    title: tool.title,
    readOnlyHint: read,
    destructiveHint: !read && (tool.impact === 'high' || tool.consequence === 'deletes' || tool.consequence === 'moves-money'),
    idempotentHint: read,
    openWorldHint: true,
  };
}

/**
 * What any call may answer besides the upstream's data: Countersign's own status object (held, refused, failed).
 * Every result's structuredContent matches the tool's outputSchema, error results included, since SDK clients
 * validate those too.
 */
const STATUS_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['pending', 'received', 'allowed', 'approved', 'executing', 'unknown', 'denied', 'rejected', 'expired', 'cancelled', 'failed', 'error'] },
    approval_id: { type: 'string', description: 'Pass it to countersign_await as {"id": ...} to wait for the outcome' },
    request_id: { type: 'string' },
    summary: { type: 'string', description: 'What the request does, in Countersign\'s words' },
    approval_url: { type: ['string', 'null'], description: 'Where a human approves or rejects it' },
    how_to_wait: { type: 'string' },
    reason: { type: 'string', description: 'Why it was refused or failed' },
    code: { type: 'string' },
    message: { type: 'string' },
  },
  required: ['status'],
};

/** A tool's data when it ran, or Countersign's status object while it waits or when it was refused. */
export function outputSchemaFor(result: Record<string, unknown> = { type: 'object', description: "The upstream service's answer" }): NonNullable<Tool['outputSchema']> {
  return {
    type: 'object',
    description: 'The result when the call ran; otherwise a status object: pending (wait with countersign_await), or denied, rejected, expired, cancelled, failed, error.',
    anyOf: [result, STATUS_SCHEMA],
  };
}

export function listedTool(tool: ToolInfo): Tool {
  const schema = tool.inputSchema as Tool['inputSchema'];
  // What happens to a write is policy's to say, at call time: the agent learns that it may wait, never that it will.
  let description = tool.impact === 'read' || /depending on policy/.test(tool.description) ? tool.description : `${tool.description} May need a human's approval, depending on policy.`;
  if (tool.sandbox) description += ' (SANDBOX: talks to a local sandbox, not the real service)';
  return {
    name: tool.name,
    title: tool.title,
    description,
    inputSchema: { ...schema, type: 'object' },
    outputSchema: outputSchemaFor(),
    annotations: annotate(tool),
    execution: { taskSupport: 'optional' },
  };
}

/**
 * The data goes to the model twice: as `structuredContent`, and serialized as a second text block, because most
 * clients show the model only text (the MCP spec asks tools that return structured content to do both).
 */
export function withJson(result: CallToolResult): CallToolResult {
  if (!result.structuredContent) return result;
  return { ...result, content: [...result.content, { type: 'text', text: JSON.stringify(result.structuredContent) }] };
}

/** The two tools Countersign itself offers: waiting for an approval, and listing one's own requests. */
export function ownTools(holdSeconds: number): Tool[] {
  return [
    {
      name: AWAIT_TOOL,
      title: 'Wait for an approval',
      description:
        `Waits up to ${holdSeconds} seconds for a request that needs human approval, then returns its final result, ` +
        'or status "pending" again if the human has not decided yet. Pass the approval_id a pending call returned as {"id": approval_id}.',
      inputSchema: {
        type: 'object',
        properties: { id: { type: 'string', description: 'The approval_id a pending call returned (its request id)' } },
        required: ['id'],
        additionalProperties: false,
      },
      outputSchema: outputSchemaFor(),
      annotations: { title: 'Wait for an approval', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    {
      name: REQUESTS_TOOL,
      title: 'My recent requests',
      description: 'Lists your recent requests through Countersign and their states (pending, succeeded, denied, ...).',
      inputSchema: {
        type: 'object',
        properties: { limit: { type: 'integer', minimum: 1, maximum: 100, description: 'How many (default 20)' } },
        additionalProperties: false,
      },
      outputSchema: {
        type: 'object',
        properties: {
          requests: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                tool: { type: 'string' },
                state: { type: 'string' },
                summary: { type: 'string' },
                created_at: { type: 'string' },
                arguments: { type: 'object', description: 'The arguments you sent, to tell similar requests apart' },
              },
              required: ['id', 'tool', 'state', 'summary', 'created_at', 'arguments'],
            },
          },
        },
        required: ['requests'],
      },
      annotations: { title: 'My recent requests', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
  ];
}

const NOT_FINAL = new Set(['received', 'allowed', 'pending', 'approved', 'executing', 'unknown']);

export function isFinal(view: RequestView): boolean {
  return !NOT_FINAL.has(view.state);
}

const text = (t: string) => [{ type: 'text' as const, text: t }];

function rejection(approvals: ApprovalRecord[]): ApprovalRecord | undefined {
  return approvals.find((a) => a.decision === 'reject');
}

/**
 * The tool result an agent gets for a request in a given state. Refusals are `isError` and say why. A final result
 * names its audit receipt (the request's entries with inclusion proofs and a signed checkpoint) in `_meta`.
 */
export function resultOf(view: RequestView): CallToolResult {
  const result = withJson(shape(view));
  if (!isFinal(view)) return result;
  return { ...result, _meta: { 'countersign/receipt': { request_id: view.id, get: `countersign audit receipt ${view.id}` } } };
}

function shape(view: RequestView): CallToolResult {
  switch (view.state) {
    case 'succeeded': {
      const result = view.result ?? { data: {}, text: 'done' };
      return { content: text(result.text), structuredContent: result.data };
    }
    case 'denied': {
      const rule = view.verdict.ruleId ? `policy rule "${view.verdict.ruleId}"` : 'policy';
      return { isError: true, content: text(`Denied by ${rule}: ${view.verdict.reason}`), structuredContent: refusal(view, view.verdict.reason) };
    }
    case 'rejected': {
      const by = rejection(view.approvals);
      const reason = by?.reason ? by.reason : 'no reason given';
      const who = by ? by.approverEmail : 'an approver';
      return { isError: true, content: text(`Rejected by ${who}: ${reason}`), structuredContent: refusal(view, reason) };
    }
    case 'expired':
      return { isError: true, content: text(`Nobody approved "${view.intent.summary}" in time, so it expired and was not executed. Ask again if it is still needed.`), structuredContent: refusal(view, 'expired') };
    case 'cancelled': {
      const why = view.error?.message ?? 'it was cancelled and not executed';
      return { isError: true, content: text(`The request "${view.intent.summary}" was cancelled: ${why}.`), structuredContent: refusal(view, why) };
    }
    case 'failed': {
      const message = view.error?.message ?? 'the upstream call failed';
      return { isError: true, content: text(`Failed: ${message}`), structuredContent: refusal(view, message) };
    }
    default:
      return pendingShape(view);
  }
}

function refusal(view: RequestView, reason: string) {
  return { status: view.state, request_id: view.id, summary: view.intent.summary, reason };
}

/**
 * A normal, non-error result: the agent learns what the human is asked and how to wait for the answer. `interrupted`
 * says why the call stopped holding early (the server stopping, the kernel gone): the request is not lost, and calling
 * the tool again would ask twice.
 */
export function pendingResult(view: RequestView, interrupted: string | null = null): CallToolResult {
  const shape = pendingShape(view);
  if (!interrupted) return withJson(shape);
  const why = `Stopped holding this call early: ${interrupted}. The request ${view.id} is recorded and runs at most once; do not call the tool again.`;
  return withJson({ content: text(`${why} ${shape.content.map((c) => (c.type === 'text' ? c.text : '')).join('')}`), structuredContent: { ...shape.structuredContent, interrupted } });
}

function pendingShape(view: RequestView): CallToolResult {
  const howToWait = `call ${AWAIT_TOOL} with {"id": "${view.id}"}`;
  const data = {
    status: view.state === 'pending' ? 'pending' : view.state,
    approval_id: view.id,
    summary: view.intent.summary,
    approval_url: view.approvalUrl,
    how_to_wait: howToWait,
  };
  const page = view.approvalUrl ? ` Page: ${view.approvalUrl}.` : '';
  let what = `The request "${view.intent.summary}" is ${view.state}.`;
  if (view.state === 'pending') what = `Waiting for a human to approve: ${view.intent.summary}.${page}`;
  if (view.state === 'unknown' && view.error?.code === 'upstream_unknown') {
    // Stopped mid-call (cancelled, timed out, the process gone): reconcile is finding out whether it ran.
    what = `"${view.intent.summary}": ${view.error.message}. Countersign is finding out whether it ran; do not repeat this call yourself.`;
    Object.assign(data, { status: 'unknown', message: view.error.message });
  }
  if (view.error?.code === 'outcome_unknown') {
    // The one answer an agent must not "fix" by calling again: a second call could do it twice.
    what = `"${view.intent.summary}": ${view.error.message}${page} Do not repeat this call yourself; its owner decides.`;
    Object.assign(data, { status: 'unknown', message: view.error.message, check: view.error.check ?? null });
  }
  return { content: text(`${what} To wait for the result, ${howToWait}.`), structuredContent: data };
}

/** A short line for each of the agent's requests, newest first. */
export function requestsResult(views: RequestView[]): CallToolResult {
  const requests = views.map((v) => ({ id: v.id, tool: v.body.tool, state: v.state, summary: v.intent.summary, created_at: v.createdAt, arguments: v.body.args }));
  // Two "Create an issue in acme/web" differ by their arguments (the title): each line shows them, shortened.
  const brief = (args: unknown) => {
    const json = JSON.stringify(args);
    return json.length > 160 ? `${json.slice(0, 159)}…` : json;
  };
  const lines = requests.map((r) => `${r.created_at} ${r.id} ${r.tool} ${r.state}: ${r.summary} ${brief(r.arguments)}`);
  return withJson({ content: text(lines.length ? lines.join('\n') : 'No requests yet.'), structuredContent: { requests } });
}

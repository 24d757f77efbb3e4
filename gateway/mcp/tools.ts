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

export function listedTool(tool: ToolInfo): Tool {
  const schema = tool.inputSchema as Tool['inputSchema'];
  return {
    name: tool.name,
    title: tool.title,
    description: tool.sandbox ? `${tool.description} (SANDBOX: talks to a local sandbox, not the real service)` : tool.description,
    inputSchema: { ...schema, type: 'object' },
    annotations: annotate(tool),
    execution: { taskSupport: 'optional' },
  };
}

/** The two tools Countersign itself offers: waiting for an approval, and listing one's own requests. */
export function ownTools(holdSeconds: number): Tool[] {
  return [
    {
      name: AWAIT_TOOL,
      title: 'Wait for an approval',
      description:
        `Waits up to ${holdSeconds} seconds for a request that needs human approval, then returns its final result, ` +
        'or status "pending" again if the human has not decided yet. Pass the approval_id a pending call returned.',
      inputSchema: {
        type: 'object',
        properties: { id: { type: 'string', description: 'The approval_id of the pending request' } },
        required: ['id'],
        additionalProperties: false,
      },
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

/** The tool result an agent gets for a request in a given state. Refusals are `isError` and say why. */
export function resultOf(view: RequestView): CallToolResult {
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
    case 'cancelled':
      return { isError: true, content: text(`The request "${view.intent.summary}" was cancelled and not executed.`), structuredContent: refusal(view, 'cancelled') };
    case 'failed': {
      const message = view.error?.message ?? 'the upstream call failed';
      return { isError: true, content: text(`Failed: ${message}`), structuredContent: refusal(view, message) };
    }
    default:
      return pendingResult(view);
  }
}

function refusal(view: RequestView, reason: string) {
  return { status: view.state, request_id: view.id, summary: view.intent.summary, reason };
}

/** A normal, non-error result: the agent learns what the human is asked and how to wait for the answer. */
export function pendingResult(view: RequestView): CallToolResult {
  const howToWait = `call ${AWAIT_TOOL} with {"id": "${view.id}"}`;
  const data = {
    status: view.state === 'pending' ? 'pending' : view.state,
    approval_id: view.id,
    summary: view.intent.summary,
    approval_url: view.approvalUrl,
    how_to_wait: howToWait,
  };
  const what =
    view.state === 'pending'
      ? `Waiting for a human to approve: ${view.intent.summary}.${view.approvalUrl ? ` Approval page: ${view.approvalUrl}.` : ''}`
      : `The request "${view.intent.summary}" is ${view.state}.`;
  return { content: text(`${what} To wait for the result, ${howToWait}.`), structuredContent: data };
}

/** A short line for each of the agent's requests, newest first. */
export function requestsResult(views: RequestView[]): CallToolResult {
  const requests = views.map((v) => ({ id: v.id, tool: v.body.tool, state: v.state, summary: v.intent.summary, created_at: v.createdAt }));
  const lines = requests.map((r) => `${r.created_at} ${r.id} ${r.tool} ${r.state}: ${r.summary}`);
  return { content: text(lines.length ? lines.join('\n') : 'No requests yet.'), structuredContent: { requests } };
}

import { z } from 'zod';
import { defineTool, type Connector, type ExecuteContext } from '../../tools/spec.ts';
import type { JsonObject, ToolResult } from '../../kernel/index.ts';

/**
 * A connector that lives in test/: a read tool, a write tool and a high-impact tool over an in-memory list of notes,
 * recording every execution so tests can assert what ran and how often. It exists to exercise every path of the
 * gateway; nothing in the product depends on it.
 */

export interface Execution {
  tool: string;
  args: JsonObject;
  requestId: string;
  idempotencyKey: string;
  /** What the kernel derived for this request (ExecuteContext.marker), to leave upstream for reconcile. */
  marker: string;
}

export interface TestConnector extends Connector {
  executions: Execution[];
  notes: Map<string, string>;
}

/** `payload` bytes in every read result, so benchmarks can ask for a fixed-size answer. */
export function createTestConnector(options: { name?: string; payloadBytes?: number } = {}): TestConnector {
  const name = options.name ?? 'test';
  const executions: Execution[] = [];
  const notes = new Map<string, string>([['welcome', 'hello from the test connector']]);
  const payload = 'x'.repeat(options.payloadBytes ?? 0);
  const record = (tool: string, args: JsonObject, ctx: ExecuteContext) =>
    executions.push({ tool, args, requestId: ctx.requestId, idempotencyKey: ctx.idempotencyKey, marker: ctx.marker });

  const read = defineTool({
    name: `${name}_read_note`,
    title: 'Read a note',
    description: 'Reads one note by its key.',
    input: z.object({ key: z.string().min(1).max(64) }),
    impact: 'read',
    consequence: 'reads',
    async describe(args) {
      return { summary: `Read note "${args.key}"`, consequence: 'reads', reversible: true, fields: [{ label: 'Note', kind: 'text', value: args.key }], pins: {} };
    },
    async execute(args, ctx): Promise<ToolResult> {
      record(`${name}_read_note`, args, ctx);
      const text = notes.get(args.key);
      if (text === undefined) return { data: { key: args.key, found: false, payload }, text: `No note "${args.key}"` };
      return { data: { key: args.key, found: true, text, payload }, text };
    },
  });

  const write = defineTool({
    name: `${name}_write_note`,
    title: 'Write a note',
    description: 'Creates or replaces a note.',
    input: z.object({ key: z.string().min(1).max(64), text: z.string().max(10_000) }),
    impact: 'write',
    consequence: 'writes',
    async describe(args) {
      return {
        summary: `Write note "${args.key}" (${args.text.length} characters)`,
        consequence: 'writes',
        reversible: true,
        fields: [{ label: 'Note', kind: 'text', value: args.key }],
        pins: { existed: notes.has(args.key) },
        agentText: [{ label: 'Note text', text: args.text }],
      };
    },
    async execute(args, ctx) {
      record(`${name}_write_note`, args, ctx);
      notes.set(args.key, args.text);
      return { data: { key: args.key, written: true }, text: `Wrote note "${args.key}"` };
    },
  });

  const high = defineTool({
    name: `${name}_delete_all`,
    title: 'Delete every note',
    description: 'Deletes every note. Irreversible.',
    input: z.object({ confirm: z.literal('yes') }),
    impact: 'high',
    consequence: 'deletes',
    async describe() {
      return { summary: `Delete all ${notes.size} notes`, consequence: 'deletes', reversible: false, fields: [{ label: 'Notes', kind: 'number', value: notes.size }], pins: { count: notes.size } };
    },
    async execute(args, ctx) {
      record(`${name}_delete_all`, args, ctx);
      const count = notes.size;
      notes.clear();
      return { data: { deleted: count }, text: `Deleted ${count} notes` };
    },
  });

  return { name, sandbox: true, tools: [read, write, high], executions, notes };
}

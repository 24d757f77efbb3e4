/**
 * Intent descriptors for downstream MCP tools, in the manner of ERC-7730 clear signing: an operator-supplied YAML
 * file maps each tool to a summary template, typed fields, a consequence, reversibility, and trusted look-ups (read
 * tools of the same server whose answers become pins, re-checked before execution). Templates take only argument
 * values shaped like identifiers; anything else is shown as a field, never in the sentence.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { KernelError, type Consequence, type FieldKind, type IntentField, type JsonObject } from '../../kernel/index.ts';

const CONSEQUENCES = ['reads', 'writes', 'moves-money', 'changes-code', 'deploys', 'grants-access', 'shares-secret', 'deletes'] as const;
const KINDS = ['text', 'number', 'money', 'account', 'repository', 'branch', 'commit', 'environment', 'url', 'email', 'person', 'permission'] as const;

const toolDescriptor = z.strictObject({
  summary: z.string().min(1).max(300),
  consequence: z.enum(CONSEQUENCES),
  reversible: z.boolean(),
  fields: z.array(z.strictObject({ label: z.string().min(1).max(80), arg: z.string().min(1), kind: z.enum(KINDS).optional(), agentText: z.boolean().optional() })).default([]),
  lookups: z.array(z.strictObject({ tool: z.string().min(1), args: z.record(z.string(), z.string()), pin: z.string().regex(/^[a-z_]{1,32}$/), keep: z.array(z.string()).min(1) })).default([]),
});
const descriptorFile = z.strictObject({ tools: z.record(z.string(), toolDescriptor) });

export type ToolDescriptor = z.infer<typeof toolDescriptor>;
export type Descriptors = Record<string, ToolDescriptor>;

export function loadDescriptor(path: string): Descriptors {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new KernelError('config_error', `cannot read the MCP intent descriptor ${path}: ${(error as Error).message}`);
  }
  const parsed = descriptorFile.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new KernelError('config_error', `the MCP intent descriptor ${path} is invalid: ${problems}`);
  }
  return parsed.data.tools;
}

const IDENTIFIER = /^[\w./@:+~-]{1,256}$/;

/** `{path}`, `{content|bytes}`, `{server}`: argument values shaped like identifiers, sizes, and the server's name. */
export function fill(template: string, args: JsonObject, server: string): string {
  return template.replace(/\{([A-Za-z_][\w]*)(\|bytes)?\}/g, (_m, name: string, bytes: string | undefined) => {
    if (name === 'server') return server;
    const value = args[name];
    if (bytes) return `${Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value ?? null))} bytes`;
    if ((typeof value === 'string' && IDENTIFIER.test(value)) || typeof value === 'number') return String(value);
    return `(${name}: see below)`;
  });
}

export function describedFields(d: ToolDescriptor, args: JsonObject): { fields: IntentField[]; agentText: { label: string; text: string }[] } {
  const fields: IntentField[] = [];
  const agentText: { label: string; text: string }[] = [];
  for (const f of d.fields) {
    const value = args[f.arg];
    if (value === undefined) continue;
    if (f.agentText || typeof value !== 'string' && typeof value !== 'number') agentText.push({ label: f.label, text: typeof value === 'string' ? value : JSON.stringify(value, null, 2) });
    else fields.push({ label: f.label, kind: (f.kind ?? 'text') as FieldKind, value });
  }
  return { fields, agentText };
}

export const isConsequence = (value: string): value is Consequence => (CONSEQUENCES as readonly string[]).includes(value);

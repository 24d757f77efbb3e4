/**
 * Pinned tool definitions (the rug-pull defence). When an operator trusts a server, each tool's name, description
 * and input schema are recorded with their hash in COUNTERSIGN_HOME/mcp/<server>.trust.json. A tool whose definition
 * later differs, or that appears after the trust, is quarantined until `countersign mcp trust <server>` again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { jcs, type JsonObject } from '../../kernel/index.ts';

export interface TrustedTool {
  hash: string;
  description: string;
  inputSchema: JsonObject;
}

export interface TrustFile {
  server: string;
  trustedAt: string;
  /** `first-start` when recorded automatically the first time the server was seen; `operator` after `mcp trust`. */
  by: 'first-start' | 'operator';
  tools: Record<string, TrustedTool>;
}

const definition = (tool: Tool) => ({ name: tool.name, description: tool.description ?? '', inputSchema: tool.inputSchema as unknown as JsonObject });

/** Hashes by tool object: a refreshed list brings new objects, so a changed definition is always hashed anew. */
const hashes = new WeakMap<Tool, string>();

export function definitionHash(tool: Tool): string {
  let hash = hashes.get(tool);
  if (hash === undefined) hashes.set(tool, (hash = createHash('sha256').update(jcs(definition(tool))).digest('hex')));
  return hash;
}

export const trustPath = (home: string, server: string) => join(home, 'mcp', `${server}.trust.json`);

/**
 * Trust files as last read, by path, with the identity of the file read (inode, size, mtime). Every governed call to
 * a downstream tool checks its definition against the trust file, describe and execute alike; a stat per check instead
 * of reading and parsing the file. `countersign mcp trust` (another process) replaces the file by renaming a new one
 * over it, which changes the inode, so the next check reads it.
 */
const trusted = new Map<string, { id: string; file: TrustFile }>();

export function readTrust(home: string, server: string): TrustFile | null {
  const path = trustPath(home, server);
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return null;
  const id = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  const kept = trusted.get(path);
  if (kept?.id === id) return kept.file;
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as TrustFile;
    trusted.set(path, { id, file });
    return file;
  } catch (error) {
    throw new Error(`${path} is not readable JSON (${(error as Error).message}); delete it and run countersign mcp trust ${server}`);
  }
}

export function writeTrust(home: string, server: string, tools: Tool[], by: TrustFile['by']): TrustFile {
  const file: TrustFile = {
    server,
    trustedAt: new Date().toISOString(),
    by,
    tools: Object.fromEntries(tools.map((t) => [t.name, { hash: definitionHash(t), description: definition(t).description, inputSchema: definition(t).inputSchema }])),
  };
  mkdirSync(join(home, 'mcp'), { recursive: true, mode: 0o700 });
  const path = trustPath(home, server);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return file;
}

/** Null when the tool matches what was trusted; otherwise why it is quarantined, naming what changed. */
export function quarantineReason(trust: TrustFile, tool: Tool, server: string): string | null {
  const trusted = trust.tools[tool.name];
  const fix = `An operator reviews it and runs: countersign mcp trust ${server}`;
  if (!trusted) return `tool ${tool.name} of MCP server ${server} appeared after the server was trusted (${trust.trustedAt}). ${fix}`;
  if (trusted.hash === definitionHash(tool)) return null;
  const changed: string[] = [];
  if (trusted.description !== (tool.description ?? '')) changed.push('its description');
  if (jcs(trusted.inputSchema) !== jcs(tool.inputSchema as unknown as JsonObject)) changed.push('its input schema');
  return `tool ${tool.name} of MCP server ${server} changed since it was trusted (${changed.join(' and ') || 'its definition'}), so it is quarantined. ${fix}`;
}

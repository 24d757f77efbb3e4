import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { definitionHash, quarantineReason, readTrust, trustPath, writeTrust } from '../../tools/mcp/trust.ts';

const tool = (description: string): Tool => ({ name: 'create_issue', description, inputSchema: { type: 'object', properties: { title: { type: 'string' } } } });

// Every call to a downstream tool checks the trust file; it is read again only when the file on disk is another one.
describe('MCP trust files', () => {
  const homes: string[] = [];
  const home = () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-trust-'));
    homes.push(dir);
    return dir;
  };
  afterEach(() => homes.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('reads a trust file once while it is unchanged, and again once `mcp trust` replaced it', () => {
    const dir = home();
    expect(readTrust(dir, 'gh')).toBeNull();
    writeTrust(dir, 'gh', [tool('Creates an issue')], 'first-start');
    const first = readTrust(dir, 'gh');
    expect(readTrust(dir, 'gh')).toBe(first); // the same object: not read and parsed again
    expect(quarantineReason(first!, tool('Creates an issue'), 'gh')).toBeNull();

    writeTrust(dir, 'gh', [tool('Creates an issue, and closes others')], 'operator'); // another process would do the same
    const second = readTrust(dir, 'gh');
    expect(second).not.toBe(first);
    expect(second!.by).toBe('operator');
    expect(quarantineReason(second!, tool('Creates an issue'), 'gh')).toMatch(/changed since it was trusted \(its description\)/);
  });

  it('notices a file edited in place, and one deleted', () => {
    const dir = home();
    const file = writeTrust(dir, 'gh', [tool('Creates an issue')], 'first-start');
    expect(readTrust(dir, 'gh')!.by).toBe('first-start');
    writeFileSync(trustPath(dir, 'gh'), JSON.stringify({ ...file, by: 'operator', tools: {} }));
    expect(readTrust(dir, 'gh')).toMatchObject({ by: 'operator', tools: {} });
    writeFileSync(trustPath(dir, 'gh'), '{ not json');
    expect(() => readTrust(dir, 'gh')).toThrow(/is not readable JSON .*delete it and run countersign mcp trust gh/);
    rmSync(trustPath(dir, 'gh'));
    expect(readTrust(dir, 'gh')).toBeNull();
  });

  it('hashes a definition once per tool object, and a changed definition anew', () => {
    const before = tool('Creates an issue');
    expect(definitionHash(before)).toBe(definitionHash(before));
    expect(definitionHash(tool('Creates an issue'))).toBe(definitionHash(before));
    expect(definitionHash(tool('Deletes the repository'))).not.toBe(definitionHash(before));
  });
});

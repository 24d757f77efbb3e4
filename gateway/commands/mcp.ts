import type { CommandOutput } from '../admin.ts';
import { loadConfig } from '../config.ts';
import { Downstream, readTrust, writeTrust } from '../../tools/mcp/index.ts';
import { definitionHash } from '../../tools/mcp/trust.ts';

/**
 * `countersign mcp trust NAME`: connects to the configured downstream server, reads its tool definitions and records
 * them as trusted, saying which tools are new or changed since the last trust. A running server reads the file on
 * every call, so quarantined tools are released at once.
 */
export async function mcpCommand(home: string, configPath: string, argv: string[]): Promise<CommandOutput> {
  const [sub, name] = argv.filter((a) => !a.startsWith('--'));
  const json = argv.includes('--json');
  if (sub !== 'trust' || !name) return { exitCode: 2, stdout: 'usage: countersign mcp trust NAME [--json]\n' };
  const config = loadConfig(configPath);
  const server = config.connectors.mcp?.servers[name];
  if (!server) {
    const known = Object.keys(config.connectors.mcp?.servers ?? {});
    return { exitCode: 2, stdout: `no MCP server "${name}" in ${configPath} (connectors.mcp.servers${known.length ? `: ${known.join(', ')}` : ' is empty'})\n` };
  }
  const downstream = new Downstream(name, server);
  try {
    await downstream.start();
    if (downstream.state !== 'up') return { exitCode: 1, stdout: `cannot reach MCP server ${name}: ${downstream.lastError}; nothing was trusted\n` };
    const before = readTrust(home, name);
    const changed = downstream.tools.filter((t) => before?.tools[t.name] && before.tools[t.name]!.hash !== definitionHash(t)).map((t) => t.name);
    const added = downstream.tools.filter((t) => !before?.tools[t.name]).map((t) => t.name);
    const file = writeTrust(home, name, downstream.tools, 'operator');
    const result = { server: name, trustedAt: file.trustedAt, tools: Object.keys(file.tools).length, changed, added };
    if (json) return { exitCode: 0, stdout: `${JSON.stringify(result)}\n` };
    return {
      exitCode: 0,
      stdout: `trusted ${result.tools} tools of MCP server ${name}` +
        (changed.length ? `; changed since last trust (now released): ${changed.join(', ')}` : '') +
        (added.length && before ? `; new: ${added.join(', ')}` : '') + '\n',
    };
  } finally {
    await downstream.close();
  }
}

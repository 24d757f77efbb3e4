import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { compilePolicy, type AuditLog, type CompiledPolicy, type ToolInfo } from '../kernel/index.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { argTypes, policyToolProblems, policyTypeProblems } from './policy-tools.ts';
import { BUILTIN_TOOLS } from '../tools/catalog.ts';

/**
 * Why a config's policy cannot run against these tools: names that match no tool, and expressions that do not
 * type-check against a tool they cover. Built-in tools count as known even when their connector is not running here.
 */
export function policyProblems(config: Config, offered: readonly ToolInfo[]): string[] {
  const names = [...new Set([...Object.keys(BUILTIN_TOOLS), ...offered.map((tool) => tool.name)])];
  return [
    ...policyToolProblems(config.policy, names, Object.keys(config.connectors.mcp?.servers ?? {})),
    ...policyTypeProblems(config.policy, offered.map((tool) => ({ name: tool.name, args: argTypes(tool.inputSchema) }))),
  ];
}

/** Compiles the config's policy and checks it against the offered tools; throws ConfigError saying what is wrong. */
export function compileChecked(config: Config, configPath: string, offered: readonly ToolInfo[]): CompiledPolicy {
  const policy = compilePolicy(config.policy, { roles: Object.keys(config.roles) });
  const problems = policyProblems(config, offered);
  if (problems.length) throw new ConfigError(problems.map((p) => `${configPath}: ${p}`).join('\n'), configPath, null, null);
  return policy;
}

export interface ReloadResult {
  changed: boolean;
  from: string;
  to: string;
  message: string;
}

/**
 * Policy and roles follow the config file while the server runs: a change is compiled and checked in full, then
 * swapped in at once (requests already decided keep their verdict; new ones see the new rules) and audited as
 * `policy.changed` with both versions; a config that does not compile changes nothing and is reported. Other settings
 * (connectors, limits, URLs) are read at start only, and a reload says so when they differ.
 */
export function createPolicyReloader(options: {
  configPath: string;
  /** Where the config's `env:NAME` references resolve (a process's own environment with stand-ins: isolation/env.ts). */
  env?: NodeJS.ProcessEnv;
  /** The live config: `policy` and `roles` are replaced in place, so everything reading them sees the change. */
  config: Config;
  current: () => CompiledPolicy;
  swap: (policy: CompiledPolicy) => void;
  offered: () => readonly ToolInfo[];
  audit: AuditLog;
  report: (line: string) => void;
}) {
  const { configPath, config } = options;
  let running: Promise<ReloadResult> = Promise.resolve({ changed: false, from: '', to: '', message: '' });

  async function reloadOnce(actor: string): Promise<ReloadResult> {
    const next = loadConfig(configPath, options.env);
    const policy = compileChecked(next, configPath, options.offered());
    const from = options.current().version;
    const roles = JSON.stringify(config.roles) !== JSON.stringify(next.roles);
    const { policy: _p, roles: _r, ...rest } = next;
    const { policy: _q, roles: _s, ...was } = config;
    const restart = JSON.stringify(rest) !== JSON.stringify(was) ? ' Other settings changed too; they take effect at the next restart.' : '';
    if (from === policy.version && !roles) return { changed: false, from, to: from, message: `policy unchanged (version ${from.slice(0, 12)}).${restart}` };
    const data = { from, to: policy.version, rules: [...policy.ruleIds], roles: Object.keys(next.roles), rolesChanged: roles };
    await options.audit.append([{ kind: 'policy.changed', requestId: null, actor, data }]);
    config.policy = next.policy;
    config.roles = next.roles;
    options.swap(policy);
    const message = `policy reloaded: version ${from.slice(0, 12)} -> ${policy.version.slice(0, 12)}, ${policy.ruleIds.length} rules${roles ? ', roles changed' : ''}.${restart}`;
    return { changed: true, from, to: policy.version, message };
  }

  /** One reload at a time, in order: two quick saves never interleave their swaps. */
  const reload = (actor: string): Promise<ReloadResult> => (running = running.catch(() => null).then(() => reloadOnce(actor)));

  let watcher: FSWatcher | null = null;
  let timer: NodeJS.Timeout | undefined;
  return {
    reload,
    /** Watches the config's folder (editors replace the file, which a watch on the file itself would miss). */
    watch(): void {
      const file = basename(configPath);
      watcher = watch(dirname(resolve(configPath)), (_event, name) => {
        if (name !== file) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          reload('config-watch').then(
            (result) => result.changed && options.report(result.message),
            (error: Error) => options.report(`${error.message}\nthe running policy is unchanged; fix the config and save again`),
          );
        }, 200);
      });
      watcher.on('error', () => {});
    },
    close(): void {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}

export type PolicyReloader = ReturnType<typeof createPolicyReloader>;

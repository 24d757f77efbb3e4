import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../gateway/config-schema.ts';

/**
 * README's "Add Countersign to claude.ai / ChatGPT" names config values, buttons, paths, commands, audit kinds and
 * token lifetimes; each is checked against the code that makes it true, so the section cannot drift from it. The
 * steps themselves are followed in Chromium by test/e2e/oauth-consent.test.ts.
 */

const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf('## Add Countersign to claude.ai / ChatGPT');
const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
const read = (path: string) => readFileSync(path, 'utf8');
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : []));
const code = [...sources('gateway'), ...sources('approval-web')].map(read).join('\n');

describe('README: Add Countersign to claude.ai / ChatGPT', () => {
  it('exists', () => {
    expect(start).toBeGreaterThan(0);
    expect(section).toContain('/mcp');
  });

  it('lists exactly the auth modes the config accepts', () => {
    const documented = [...section.matchAll(/^#? ?auth: (\w+)/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...configSchema.shape.auth.unwrap().options].sort());
  });

  it('names the buttons the pages show', () => {
    const pages = ['approval-web/routes/connect.tsx', 'approval-web/audit/people.tsx'].map(read).join('\n');
    const buttons = [...section.matchAll(/\*\*([^*]+)\*\*/g)].map((m) => m[1]!).filter((b) => !b.endsWith(':'));
    expect(buttons).toEqual(expect.arrayContaining(['Sign in with passkey', 'Connect with passkey', 'Deny', 'Disconnect']));
    // Each label is a button's text, or the string a button's expression chooses ("Disconnect" for a connection).
    const rendered = [...pages.matchAll(/<button[^>]*>([\s\S]*?)<\/button>/g)].map((m) => m[1]!);
    for (const label of buttons) expect(rendered.some((b) => b.trim().startsWith(label) || b.includes(`'${label}'`)), label).toBe(true);
  });

  it('names paths the server serves and commands the CLI has', () => {
    const paths = [...section.matchAll(/`(\/[^`\s]*)`/g)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThanOrEqual(4);
    for (const path of paths) expect(code, path).toContain(path);
    const cli = read('gateway/cli.ts');
    const help = cli.slice(cli.indexOf('const HELP'), cli.indexOf('`;', cli.indexOf('const HELP')));
    const commands = [...section.matchAll(/`countersign (\w+) (\w+)[^`]*`/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(commands).toEqual(expect.arrayContaining(['agent list', 'agent revoke', 'agent add']));
    for (const command of commands) expect(help, command).toContain(command);
  });

  it('names the audit kinds the kernel writes and the token lifetimes the provider sets', () => {
    const kernel = read('kernel/kernel.ts');
    for (const kind of ['agent.added', 'agent.connected']) {
      expect(section).toContain(`\`${kind}\``);
      expect(kernel).toContain(`'${kind}'`);
    }
    const provider = read('gateway/oauth/provider.ts');
    const access = Number(/const ACCESS_TOKEN_SECONDS = (\d+);/.exec(provider)?.[1]);
    const refreshDays = Number(/RefreshToken: (\d+) \* 86400/.exec(provider)?.[1]);
    expect(section).toContain(`Access tokens are opaque, last ${access / 3600} hour`);
    expect(section).toContain(`last ${refreshDays} days`);
    expect(provider).toContain('rotateRefreshToken: true');
    expect(provider).toContain("accessTokenFormat: 'opaque'");
  });
});

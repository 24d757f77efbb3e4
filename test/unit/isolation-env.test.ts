import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, configEnv, envRefs } from '../../gateway/isolation/env.ts';
import { loadConfig } from '../../gateway/config.ts';

// What each process of `--isolation process` starts with (gateway/isolation/env.ts): built from nothing, so a secret
// nobody listed stays behind; each credential goes to the one process whose config section names it.

const dir = mkdtempSync(join(tmpdir(), 'countersign-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const config = join(dir, 'countersign.yaml');
writeFileSync(
  config,
  `connectors:
  github: { token: env:GH_APP_TOKEN }
  mcp:
    servers:
      notes: { command: node, args: [server.js], env: { NOTES_KEY: env:NOTES_SECRET } }
notify:
  webhooks: [env:HOOK_URL]
policy: { default: approve }
`,
);

const parent: NodeJS.ProcessEnv = {
  PATH: '/usr/bin',
  HOME: '/home/op',
  LANG: 'C.UTF-8',
  LOG_LEVEL: 'debug',
  COUNTERSIGN_HOME: '/srv/cs',
  COUNTERSIGN_CONFIG: config,
  PORT: '8787',
  HTTPS_PROXY: 'http://proxy:3128',
  DATABASE_URL: 'postgres://cs:dbpass@db/cs',
  GITHUB_TOKEN: 'ghp_ambient',
  GH_APP_TOKEN: 'ghp_from_config',
  STRIPE_SECRET_KEY: 'sk_test_ambient',
  AWS_ACCESS_KEY_ID: 'AKIAAMBIENT',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  NOTES_SECRET: 'notes-secret',
  HOOK_URL: 'https://hooks.example.com/T0/secret',
  OPENAI_API_KEY: 'sk-nobody-listed-this',
  NODE_OPTIONS: '--require /tmp/evil.js',
};
const refs = envRefs(config);
const secrets = ['DATABASE_URL', 'GITHUB_TOKEN', 'GH_APP_TOKEN', 'STRIPE_SECRET_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'NOTES_SECRET', 'HOOK_URL'];
const held = (role: Parameters<typeof childEnv>[0]) => secrets.filter((name) => childEnv(role, parent, refs)[name] !== undefined);

describe('each process’s environment', () => {
  it('finds every env: reference with the section that owns it', () => {
    expect(refs).toEqual([
      { owner: 'connectors.github', name: 'GH_APP_TOKEN' },
      { owner: 'connectors.mcp', name: 'NOTES_SECRET' },
      { owner: 'notify', name: 'HOOK_URL' },
    ]);
  });

  it('gives each credential only to the process whose section names it, and the edge none', () => {
    expect(held('edge')).toEqual([]);
    expect(held('kernel')).toEqual(['DATABASE_URL', 'HOOK_URL']);
    expect(held('executor:github')).toEqual(['GITHUB_TOKEN', 'GH_APP_TOKEN']);
    expect(held('executor:stripe')).toEqual(['STRIPE_SECRET_KEY']);
    expect(held('executor:aws')).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    expect(held('executor:mcp')).toEqual(['NOTES_SECRET']);
  });

  it('drops what nobody listed (another product’s key, NODE_OPTIONS) everywhere, and keeps what every Node needs', () => {
    for (const role of ['edge', 'kernel', 'executor:github', 'executor:mcp'] as const) {
      const env = childEnv(role, parent, refs);
      expect(env.OPENAI_API_KEY, role).toBeUndefined();
      expect(env.NODE_OPTIONS, role).toBeUndefined();
      expect(env).toMatchObject({ PATH: '/usr/bin', HOME: '/home/op', LANG: 'C.UTF-8', COUNTERSIGN_HOME: '/srv/cs', PORT: '8787' });
    }
    // Outbound proxies for those that make requests; the edge makes none.
    expect(childEnv('edge', parent, refs).HTTPS_PROXY).toBeUndefined();
    expect(childEnv('executor:github', parent, refs).HTTPS_PROXY).toBe('http://proxy:3128');
  });

  it('passes LOG_LEVEL on, so the kernel process logs at the level the operator chose', () => {
    expect(childEnv('kernel', parent, refs).LOG_LEVEL).toBe('debug');
  });

  it('lets each process load the config, with a stand-in (never the value) for references another process owns', () => {
    const kernelView = configEnv('kernel', childEnv('kernel', parent, refs), refs);
    expect(kernelView.GH_APP_TOKEN).toBe('https://held-by-another-process.invalid/connectors.github');
    const kernel = loadConfig(config, kernelView);
    expect(kernel.notify.webhooks).toEqual([expect.objectContaining({ url: parent.HOOK_URL })]);
    expect(JSON.stringify(kernel)).not.toContain('ghp_from_config');
    expect(JSON.stringify(kernel)).not.toContain('notes-secret');
    // An executor loads the same file: the webhook it does not hold fills a URL field, so its stand-in must be one.
    const github = loadConfig(config, configEnv('executor:github', childEnv('executor:github', parent, refs), refs));
    expect(github.connectors?.github?.token).toBe('ghp_from_config');
    expect(JSON.stringify(github)).not.toContain(parent.HOOK_URL);
    const mcp = loadConfig(config, configEnv('executor:mcp', childEnv('executor:mcp', parent, refs), refs));
    expect(mcp.connectors?.mcp?.servers?.notes?.env).toEqual({ NOTES_KEY: 'notes-secret' });
  });
});

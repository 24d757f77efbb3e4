import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CAPABILITIES } from '../../kernel/index.ts';

// The capability table (kernel/capabilities.ts, asserted exactly in capabilities.test.ts) against the source: every op
// a list grants is one that service's code sends (the least set), and no other product code grants capabilities (so
// `kernel:*` cannot appear anywhere else). These read the source, which Stryker instruments, so mutation testing
// leaves this file out (test/mutation/vitest.config.ts).

const root = resolve(import.meta.dirname, '../..');

function sources(...dirs: string[]): string[] {
  return dirs.flatMap((dir) => {
    const path = join(root, dir);
    if (/\.tsx?$/.test(dir)) return [dir];
    return readdirSync(path, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && /\.tsx?$/.test(e.name))
      .map((e) => relative(root, join(e.parentPath, e.name)));
  });
}

/** The text of every `router.register(...)` call, parentheses balanced, whitespace collapsed. */
function registerCalls(text: string): string[] {
  return [...text.matchAll(/router\.register\(/g)].map((m) => {
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < text.length; i++) {
      if (text[i] === '(') depth++;
      if (text[i] === ')' && --depth === 0) return text.slice(m.index, i + 1).replace(/\s+/g, ' ');
    }
    return text.slice(m.index);
  });
}

/** Where each service's code lives: the ops it sends are read from these files. */
const CODE: Record<keyof typeof CAPABILITIES, string[]> = {
  kernel: ['kernel'],
  gateway: ['gateway/mcp', 'gateway/app.ts', 'gateway/edge-app.ts'],
  web: ['approval-web'],
  notifier: ['approval-web/notify'],
  admin: ['gateway/commands', 'approval-web/devices/command.ts', 'approval-web/kernel-client.ts', 'gateway/isolation/kernel-process.ts'],
  connector: ['tools/host.ts', 'tools/executions.ts'],
  audit: ['gateway/audit-reader'],
  webdb: ['approval-web/store.ts'],
  operator: ['gateway/operator'],
};

describe('capability lists in the source', () => {
  it('grant only ops the service sends (the least set that works)', () => {
    for (const [service, list] of Object.entries(CAPABILITIES) as [keyof typeof CAPABILITIES, readonly string[]][]) {
      const text = sources(...CODE[service]).map((file) => readFileSync(join(root, file), 'utf8')).join('\n');
      for (const capability of list) {
        const op = capability.split(':')[1]!;
        expect(text, `${service} holds ${capability} but its code never sends op '${op}'`).toContain(`op: '${op}'`);
      }
    }
  });

  it('are granted nowhere else: product code registers ports only with a list from the table', () => {
    const literal = /['"](kernel|gateway|web|webdb|notifier|admin|audit|operator|connector\.[\w*]+):[\w.*]+['"]/g;
    const product = sources('kernel', 'gateway', 'approval-web', 'tools').filter((file) => file !== 'kernel/capabilities.ts');
    const found = product.flatMap((file) => [...readFileSync(join(root, file), 'utf8').matchAll(literal)].map((m) => `${file}: ${m[0]}`));
    expect(found).toEqual([]);
    const registrations = product.flatMap((file) => registerCalls(readFileSync(join(root, file), 'utf8')).map((call) => `${file}: ${call}`));
    expect(registrations.length).toBeGreaterThanOrEqual(7);
    for (const registration of registrations) expect(registration).toMatch(/, CAPABILITIES\.\w+\)$/);
  });
});

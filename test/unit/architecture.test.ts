import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// DESIGN section 1: who may import whom, and the kernel's review budget. These read the source, so a change that
// crosses a boundary fails here with the file and the import named.

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.tsx?$/.test(e.name))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** Every relative import of a file, resolved to a path from the repository root. */
function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const patterns = [/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/g, /(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g, /import\(\s*['"]([^'"]+)['"]\s*\)/g];
  const specifiers = patterns.flatMap((pattern) => [...text.matchAll(pattern)]);
  return specifiers.map((m) => m[1]!).filter((s) => s.startsWith('.')).map((s) => relative(root, resolve(root, file, '..', s)));
}

function crossings(from: string, forbidden: RegExp): string[] {
  return sources(from).flatMap((file) => imports(file).filter((target) => forbidden.test(target)).map((target) => `${file} imports ${target}`));
}

/** Lines of a TypeScript file that are neither blank nor only a comment. */
function codeLines(text: string): number {
  let inBlock = false;
  let count = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (inBlock) {
      if (line.includes('*/')) inBlock = false;
      continue;
    }
    if (line === '' || line.startsWith('//')) continue;
    if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      continue;
    }
    count++;
  }
  return count;
}

describe('architecture', () => {
  it('sees imports at all (so the boundary checks below can fail)', () => {
    expect(crossings('gateway', /^kernel\//).length).toBeGreaterThan(10);
  });

  it('keeps the kernel free of every other top-level folder', () => {
    expect(crossings('kernel', /^(?!kernel\/)/)).toEqual([]);
  });

  it('keeps tools away from the gateway and the approval web app', () => {
    expect(crossings('tools', /^(gateway|approval-web)\//)).toEqual([]);
  });

  it("keeps the approval web app and the gateway's MCP face away from connectors' executors and credentials", () => {
    expect(crossings('approval-web', /^tools\//)).toEqual([]);
    expect(crossings('gateway/mcp', /^tools\//)).toEqual([]);
  });

  it('has no `any` in the kernel', () => {
    const found = sources('kernel').flatMap((file) =>
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .flatMap((line, i) => (/(:\s*any\b|\bas any\b|<any>|\bany\[\])/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });

  // The budget counts lines of code: blank lines and comments (which explain why) are free, so they are never the
  // thing cut to fit.
  it('keeps the kernel within its review budget of 2,500 lines of code', () => {
    const code = sources('kernel').reduce((sum, file) => sum + codeLines(readFileSync(join(root, file), 'utf8')), 0);
    expect(code, `kernel/ has ${code} lines of code`).toBeLessThanOrEqual(2500);
    expect(code).toBeGreaterThan(1000); // the count itself works
  });
});

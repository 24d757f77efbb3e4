/**
 * Tool-name globs and the index that makes rule look-up cheap: a request only ever looks at the rules whose
 * `tools` can match its tool name, and that list is computed once per tool name.
 */

const GLOB_SHAPE = /^[a-z0-9_*?]{1,64}$/;

/** Why a glob is unusable, or null when it is fine. */
export function globProblem(glob: unknown): string | null {
  if (typeof glob !== 'string') return `a tool pattern must be a string, got ${describe(glob)}`;
  if (glob.length === 0) return 'a tool pattern is empty';
  if (!GLOB_SHAPE.test(glob)) {
    return (
      `tool pattern "${glob}" may only hold lowercase letters, digits, "_" and the wildcards "*" and "?" ` +
      '(tool names look like github_merge_pull_request; write e.g. "github_*")'
    );
  }
  return null;
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
}

export function isLiteral(glob: string): boolean {
  return !glob.includes('*') && !glob.includes('?');
}

export function globToRegExp(glob: string): RegExp {
  // The shape check above leaves only [a-z0-9_] besides wildcards, so no other character needs escaping.
  return new RegExp(`^${glob.replaceAll('*', '.*').replaceAll('?', '.')}$`);
}

interface PatternRule {
  index: number;
  patterns: RegExp[];
}

/** Caps the per-tool cache; tool names are validated before policy, so this only guards against misuse. */
const CACHE_LIMIT = 10_000;

/** Maps a tool name to the indexes, in file order, of the rules whose `tools` match it. */
export class ToolIndex {
  private readonly exact = new Map<string, number[]>();
  private readonly patterned: PatternRule[] = [];
  private readonly cache = new Map<string, readonly number[]>();

  constructor(rules: readonly { tools: readonly string[] }[]) {
    rules.forEach((rule, index) => {
      const patterns = rule.tools.filter((glob) => !isLiteral(glob)).map(globToRegExp);
      if (patterns.length > 0) this.patterned.push({ index, patterns });
      for (const name of rule.tools.filter(isLiteral)) {
        const list = this.exact.get(name) ?? [];
        if (list[list.length - 1] !== index) list.push(index);
        this.exact.set(name, list);
      }
    });
  }

  candidates(tool: string): readonly number[] {
    const hit = this.cache.get(tool);
    if (hit) return hit;
    const found = new Set(this.exact.get(tool) ?? []);
    for (const rule of this.patterned) if (rule.patterns.some((re) => re.test(tool))) found.add(rule.index);
    const list = [...found].sort((a, b) => a - b);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(tool, list);
    return list;
  }
}

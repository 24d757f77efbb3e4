/** The newest modification time (ms) of the files the CLI is built from. */
export function newestSource(root: string): number;
/** The URL of entry `name` (cli, child) built in `dir`, when built from `root` and no source changed since; else null. */
export function freshBuild(root: string, dir: string, name?: 'cli' | 'child'): string | null;

/** The newest modification time (ms) of the files the CLI is built from. */
export function newestSource(root: string): number;
/** The URL of the CLI built in `dir` when it was built from `root` and no source changed since; else null. */
export function freshBuild(root: string, dir: string): string | null;

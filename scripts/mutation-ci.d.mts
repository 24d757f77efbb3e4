export const KERNEL_THRESHOLD: number;
export function scopeFiles(globs: string[], files: string[]): string[];
export function hasRuntimeCode(source: string): boolean;
export function staleFiles(inScope: string[], record: Record<string, { source: string } | undefined>, source: (file: string) => string | null): string[];
export function mutateCommand(files: string[]): string;
export function ciFailures(run: { kernel: { killed: number; survived: number; noCoverage: number }; stale: string[]; timedOut: boolean; minutes: number }): string[];

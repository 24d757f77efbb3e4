export const KERNEL_THRESHOLD: number;
export function staleFiles(inScope: string[], record: Record<string, { source: string } | undefined>, source: (file: string) => string | null): string[];
export function ciFailures(run: { kernel: { killed: number; survived: number; noCoverage: number }; stale: string[]; timedOut: boolean; minutes: number }): string[];

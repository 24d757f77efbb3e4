import type { BuildOptions } from 'esbuild';
/** Options for esbuild's `build` that bundle our sources under `root` for Node (add entryPoints and outdir). */
export function bundleOptions(root: string): BuildOptions;

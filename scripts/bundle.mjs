// esbuild options shared by the CLI's ahead-of-time build (build-cli.mjs) and the benchmarks, which run their servers
// built the same way, as `countersign start` runs: our TypeScript bundled, packages left to node_modules.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Options for esbuild's `build` that bundle our sources under `root` for Node (add entryPoints and outdir). */
export function bundleOptions(root) {
  // Sources find their migrations, client scripts and package.json next to themselves through import.meta.url: each
  // file keeps its own (its path in this checkout), not the bundle's.
  const ownUrls = {
    name: 'own-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.tsx?$/ }, (args) => {
        if (args.path.includes(`${join(root, 'node_modules')}`)) return undefined;
        const contents = readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
        return { contents, loader: args.path.endsWith('x') ? 'tsx' : 'ts' };
      });
    },
  };

  // Packages stay in node_modules, but for JSON data files, which are bundled (esbuild would drop the import attribute
  // that Node needs to import them).
  const packagesExternal = {
    name: 'packages-external',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.endsWith('.json') ? undefined : { path: args.path, external: true }));
    },
  };

  return {
    bundle: true,
    splitting: true, // lazy imports stay lazy: an offline command never loads the connectors or the web app
    platform: 'node',
    format: 'esm',
    target: 'node20',
    tsconfig: join(root, 'tsconfig.json'),
    logLevel: 'warning',
    plugins: [packagesExternal, ownUrls],
  };
}

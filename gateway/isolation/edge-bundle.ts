import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { CLIENT_BUILD } from '../../approval-web/assets.ts';
import { AUDIT_CLIENT_BUILD } from '../../approval-web/audit/assets.ts';

/**
 * The edge process parses agent and browser traffic, so it runs under Node's permission model: it may read one file,
 * its own code, bundled here at start into a private directory, and nothing else: not COUNTERSIGN_HOME (the kernel's
 * private key, the database, the grant journals), not the config, not the source tree. It may not start processes or
 * worker threads, or write files. The web app's client scripts, which esbuild builds at start in one process, are
 * built here and carried inside the bundle, since the edge may not run esbuild.
 */

const ENTRY = fileURLToPath(new URL('./edge-main.ts', import.meta.url));

export interface EdgeBundle {
  file: string;
  /** Node's flags for the edge: the permission model, reading only `file`. */
  flags: string[];
  remove(): void;
}

/** Node 22.13+ and 24 call it `--permission`; Node 20 `--experimental-permission`. */
export function permissionFlags(file: string): string[] {
  const flag = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
  return [flag, `--allow-fs-read=${file}`, '--disable-warning=ExperimentalWarning'];
}

/** A client build by its entry files' names (inside the bundle, their directory is the bundle's, not the source's). */
function key(entryPoints: string[]): string {
  return entryPoints.map((path) => path.slice(path.lastIndexOf('/') + 1)).join(' ');
}

/** esbuild's `build` inside the edge: answers the two client builds with what was built here, refuses any other. */
function prebuiltEsbuild(outputs: Record<string, { path: string; contents: string }[]>): Plugin {
  return {
    name: 'prebuilt-esbuild',
    setup(b) {
      b.onResolve({ filter: /^esbuild$/ }, () => ({ path: 'esbuild', namespace: 'prebuilt' }));
      b.onLoad({ filter: /.*/, namespace: 'prebuilt' }, () => ({
        loader: 'js',
        contents: `const key = ${key.toString()};
const OUTPUTS = ${JSON.stringify(outputs)};
export async function build(options) {
  const found = OUTPUTS[key(options.entryPoints)];
  if (!found) throw new Error('the edge process runs no esbuild: its client files are built by the supervisor at start');
  return { outputFiles: found.map((f) => ({ path: f.path, contents: Buffer.from(f.contents, 'base64') })) };
}`,
      }));
    },
  };
}

/** Removes edge bundles in `dir` whose supervisor is gone. */
export function removeStale(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = Number(/^countersign-edge-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
}

/** Builds the edge's code and client files into one file in a fresh private directory (mode 0700). */
export async function bundleEdge(): Promise<EdgeBundle> {
  const outputs: Record<string, { path: string; contents: string }[]> = {};
  for (const options of [CLIENT_BUILD, AUDIT_CLIENT_BUILD] as BuildOptions[]) {
    const result = await build({ ...options, write: false });
    outputs[key(options.entryPoints as string[])] = result.outputFiles.map((f) => ({ path: f.path, contents: Buffer.from(f.contents).toString('base64') }));
  }
  removeStale(tmpdir());
  // Named for this supervisor, so a later one can tell a bundle whose supervisor was killed (SIGKILL runs no cleanup).
  const dir = mkdtempSync(join(tmpdir(), `countersign-edge-${process.pid}-`));
  const file = join(dir, 'edge.mjs');
  try {
    await build({
      entryPoints: [ENTRY],
      outfile: file,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
      // Bundled CommonJS packages require Node's built-ins; none reads a file to do so.
      // (`import.meta['url']`: the CLI's own build, scripts/build-cli.mjs, rewrites every `import.meta.url` it sees.)
      banner: { js: "import { createRequire as __csRequire } from 'node:module'; const require = __csRequire(import.meta['url']);" },
      plugins: [prebuiltEsbuild(outputs)],
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`bundling the edge process failed: ${(error as Error).message}`);
  }
  return { file, flags: permissionFlags(file), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

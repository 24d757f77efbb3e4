import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Shared by scripts/build-cli.mjs, which builds the CLI ahead of time, and bin/countersign.js, which runs that build
// only while it is fresh.

const DIRS = ['gateway', 'kernel', 'tools', 'approval-web', 'net'];
const FILES = ['package.json', 'tsconfig.json'];

/** The newest modification time (ms) of the files the CLI is built from. */
export function newestSource(root) {
  let newest = 0;
  for (const file of FILES) newest = Math.max(newest, statSync(join(root, file)).mtimeMs);
  for (const dir of DIRS) {
    for (const entry of readdirSync(join(root, dir), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/** The URL of entry `name` (cli, child) built in `dir`, when built from `root` and no source changed since; else null. */
export function freshBuild(root, dir, name = 'cli') {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    if (manifest.root !== root || !(manifest.newest >= newestSource(root))) return null;
    return pathToFileURL(join(dir, `${name}.js`)).href;
  } catch {
    return null;
  }
}

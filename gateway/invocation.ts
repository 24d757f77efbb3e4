import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How to run this Countersign from a shell or a client's config, so that every command we print works when pasted.
 * In a clone `countersign` is not on PATH and `npx countersign` resolves only inside the clone (npm looks the name up
 * in the registry anywhere else, where it is not published), so hints are worded for where the command was asked.
 */

/** The package root (the folder holding package.json and bin/). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The CLI entry point, absolute. */
export const BIN = join(PACKAGE_ROOT, 'bin', 'countersign.js');

function real(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/**
 * True when `countersign` on the user's PATH is this installation (after `npm link` or `npm install -g .`). Folders
 * npm puts in front of PATH while it runs us (`npx`, `npm run`) are skipped: the user's shell does not have them.
 */
function onPath(path = process.env.PATH ?? ''): boolean {
  const mine = real(BIN);
  const npmAdded = (dir: string) => /node_modules[\\/]\.bin$|[\\/]_npx[\\/]|node-gyp-bin/.test(dir);
  for (const dir of path.split(delimiter).filter((d) => d && !npmAdded(d))) {
    const candidate = join(dir, 'countersign');
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    return real(candidate) === mine;
  }
  return false;
}

/**
 * The prefix that runs the CLI from `cwd`: `countersign` when installed on PATH, `npx countersign` inside the clone,
 * else `node /abs/path/bin/countersign.js`.
 * @example `${cliCommand()} agent add my-agent --owner you@example.com`
 */
export function cliCommand(cwd = process.cwd()): string {
  if (onPath()) return 'countersign';
  const inside = relative(PACKAGE_ROOT, resolve(cwd));
  if (!inside.startsWith('..') && !isAbsolute(inside)) return 'npx countersign';
  return `${quote(process.execPath)} ${quote(BIN)}`;
}

/** The stdio bridge as a client config spawns it from any directory: absolute node and script, no PATH, no npx. */
export function stdioLaunch(): { command: string; args: string[] } {
  return { command: process.execPath, args: [BIN, 'stdio'] };
}

const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { deserialize, serialize } from 'node:v8';

/**
 * A sandbox upstream's world kept in a file under COUNTERSIGN_HOME, so what agents did in the story (PR #42 merged,
 * a refund made) is still true after a restart, as Countersign's own history says it is. The parts are the
 * sandbox's mutable objects (its state, a Stripe idempotency table): saved whole after every write request, with
 * node:v8's structured serialization (Maps, Sets, Dates and Buffers survive), written to a temporary file and renamed,
 * so a crash leaves the old file or the new one. Without a file the sandbox lives in memory only (tests).
 */
export interface SandboxFile {
  /** Writes every part to the file (no-op without a file). */
  save(): void;
  /** Puts the seeded story back in place (each part from `fresh`) and forgets the file. */
  reset(): void;
}

const FORMAT = 1;

type Part = object;

/** Copies `from`'s contents into `into` in place, so closures holding `into` see the loaded world. */
function fill(into: Part, from: Part): void {
  if (into instanceof Map && from instanceof Map) {
    into.clear();
    for (const [k, v] of from) into.set(k, v);
    return;
  }
  const target = into as Record<string, unknown>;
  for (const key of Object.keys(target)) delete target[key];
  Object.assign(target, from);
}

/**
 * Loads `parts` from `file` when it exists, and returns how to save and reset them. `fresh` builds the seeded parts
 * again (reset). A file that cannot be read is an error that says how to start afresh, never a silent reset.
 * @example const persisted = sandboxFile(options.stateFile, { state }, () => ({ state: new SandboxState() }));
 */
export function sandboxFile<P extends Record<string, Part>>(file: string | undefined, parts: P, fresh: () => P): SandboxFile {
  if (file && existsSync(file)) {
    let saved: { format?: unknown; parts?: Record<string, Part> };
    try {
      saved = deserialize(readFileSync(file)) as typeof saved;
    } catch (error) {
      throw new Error(`the sandbox state in ${file} cannot be read (${(error as Error).message}); run countersign sandbox reset to start the sandbox story afresh`);
    }
    if (saved?.format !== FORMAT || typeof saved.parts !== 'object') {
      throw new Error(`the sandbox state in ${file} was written by another version of Countersign; run countersign sandbox reset to start the sandbox story afresh`);
    }
    for (const [name, part] of Object.entries(parts)) if (saved.parts[name] !== undefined) fill(part, saved.parts[name]!);
  }
  return {
    save() {
      if (!file) return;
      mkdirSync(dirname(file), { recursive: true });
      const copy = Object.fromEntries(Object.entries(parts).map(([name, part]) => [name, part instanceof Map ? part : { ...part }]));
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, serialize({ format: FORMAT, parts: copy }));
      renameSync(temporary, file);
    },
    reset() {
      const seeded = fresh();
      for (const [name, part] of Object.entries(parts)) fill(part, seeded[name]!);
      if (file) rmSync(file, { force: true });
    },
  };
}

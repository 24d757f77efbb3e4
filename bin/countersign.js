#!/usr/bin/env node
// Entry point: registers the TypeScript loader (tsx) so the sources run as written, then hands over to the CLI.
// The tsconfig is named by path: tsx would otherwise look for one from the working directory, and a server started
// anywhere else compiled the pages' JSX for React and answered every page with a 500 (found by test/fuzz).
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../gateway/cli.ts');
process.exitCode = await main(process.argv.slice(2));

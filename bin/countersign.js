#!/usr/bin/env node
// Entry point: registers the TypeScript loader (tsx) so the sources run as written, then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../gateway/cli.ts');
process.exitCode = await main(process.argv.slice(2));

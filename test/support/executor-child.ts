import { Socket } from 'node:net';
import { ignoreGroupSignals } from '../../gateway/isolation/child.ts';
import { runExecutor } from '../../gateway/isolation/executor-process.ts';
import { remoteToolBodies, type ConnectorManifest } from './tool-bodies.ts';

/**
 * The executor of a test's connector in its own process: the product's executor (runExecutor) on fd 4, its channel to
 * the kernel, with a connector whose tools' bodies run in the test process, over fd 5 (tool-bodies.ts).
 */
export async function executorChild(name: string): Promise<void> {
  process.on('disconnect', () => process.exit(0));
  ignoreGroupSignals();
  const manifest = JSON.parse(process.env.COUNTERSIGN_TEST_CONNECTOR ?? '') as ConnectorManifest;
  if (manifest.name !== name) throw new Error(`expected the manifest of ${name}, got ${manifest.name}`);
  const kernel = new Socket({ fd: 4, readable: true, writable: true });
  const upstream = new Socket({ fd: 5, readable: true, writable: true });
  await runExecutor(name, kernel, async (_name, _options, onToolsChanged) => {
    const { connector, channel } = remoteToolBodies(manifest, upstream, onToolsChanged);
    return { connector, sandbox: null, mcp: null, close: async () => channel.close() };
  });
}

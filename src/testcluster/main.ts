// node dist/src/testcluster/main.js up [--nodes N | --real-node] [--log-dir DIR]
// Starts the test control plane (with kwok nodes, or one real node on this machine: root), prints the kubeconfig path, and runs until Ctrl-C
// (SIGINT/SIGTERM stop every process and remove the temp dir).
import { startTestCluster } from './cluster.js';

function usage(): never {
  console.error('usage: node dist/src/testcluster/main.js up [--nodes N | --real-node] [--log-dir DIR]');
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== 'up') usage();
  let nodes: number | undefined;
  let logDir: string | undefined;
  let realNode = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--nodes') nodes = Number(rest[++i]);
    else if (arg === '--log-dir') logDir = rest[++i];
    else if (arg === '--real-node') realNode = true;
    else usage();
  }

  const cluster = await startTestCluster({ nodes, realNode, logDir, log: (line) => console.error(line) });
  console.error(`[testcluster] ready in ${(cluster.startupMs / 1000).toFixed(1)} s: ${cluster.server}, nodes ${cluster.nodes.join(', ')}, logs in ${cluster.logDir}`);
  console.error(`[testcluster] export KUBECONFIG=${cluster.kubeconfigPath}   (Ctrl-C stops it)`);
  console.log(cluster.kubeconfigPath);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`[testcluster] ${signal}: stopping`);
    cluster.stop().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // Keep the event loop alive until a signal arrives.
  setInterval(() => {}, 1 << 30);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

// opc-plc: an OPC UA PLC simulator. It speaks OPC UA only (no Dapr sidecar).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createLogger } from '../../shared/src/log.js';
import { onShutdown, runMain } from '../../shared/src/lifecycle.js';
import { PLC_USAGE, readPlcConfig } from './config.js';
import { routeOpcuaLogs } from '../../shared/src/opcualog.js';
import { publishedNodesForConfig } from './publishednodes.js';
import { startPlcServer, type PlcServer } from './server.js';

const log = createLogger(process.env.EDGE_SOURCE ?? 'opc-plc', process.env.EDGE_LEVEL ?? 'l2');

function writeAtomically(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

async function main(): Promise<void> {
  routeOpcuaLogs(log);
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(PLC_USAGE);
    return;
  }
  const config = readPlcConfig();
  let server: PlcServer | undefined;
  onShutdown(log, async () => {
    await server?.stop(1000);
  });

  server = await startPlcServer(config, log);
  if (config.publishedNodesFile) {
    const doc = publishedNodesForConfig(config, server.endpointUrl);
    writeAtomically(config.publishedNodesFile, JSON.stringify(doc, null, 2) + '\n');
    log.info('published nodes written', { file: config.publishedNodesFile, entries: doc.length });
  }
}

runMain(log, main);

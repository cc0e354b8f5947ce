// The PLC simulator's OPC UA server: initialize, build the address space from the node
// catalogue, start, then drive every variable from its clock. stop() is bounded.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Namespace, UAObject, UAVariable } from 'node-opcua-address-space';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
// Not the node-opcua umbrella (see opc-publisher/src/endpoint.ts); the basic types as
// node-opcua-client re-exports them, since node-opcua-server loads the client anyway.
import { DataType, MessageSecurityMode, SecurityPolicy, StatusCodes } from 'node-opcua-client';
import { OPCUAServer } from 'node-opcua-server';
import { createLogger, type Logger } from '../../shared/src/log.js';
import type { PlcConfig } from './config.js';
import { startClock, type SteadyClock } from './clock.js';
import { PLC_NAMESPACE_URI, plcNodes, type Clock, type PlcDataType, type PlcNode } from './nodes.js';

export interface PlcServer {
  /** The advertised endpoint, e.g. opc.tcp://127.0.0.1:50000. */
  readonly endpointUrl: string;
  readonly namespaceUri: string;
  readonly namespaceIndex: number;
  readonly nodes: readonly PlcNode[];
  /** "ns=<index>;s=<id>" for a catalogue id. */
  nodeId(id: string): string;
  /** Ticks elapsed on a clock since start. */
  ticks(clock: Clock): number;
  /** Stops the clocks and shuts the server down, within graceMs plus a small margin. */
  stop(graceMs?: number): Promise<void>;
}

const DATA_TYPES: Record<PlcDataType, DataType> = {
  UInt32: DataType.UInt32,
  Int32: DataType.Int32,
  Double: DataType.Double,
  Boolean: DataType.Boolean,
};

export async function startPlcServer(config: PlcConfig, log: Logger = createLogger(config.source, config.levelName)): Promise<PlcServer> {
  const secure = config.security === 'SignAndEncrypt';
  mkdirSync(config.pkiDir, { recursive: true });
  const certificateManager = new OPCUACertificateManager({
    rootFolder: config.pkiDir,
    automaticallyAcceptUnknownCertificate: config.autoAcceptCertificates,
  });
  await certificateManager.initialize();
  // X.509 user tokens get a store of their own; node-opcua's default is under $HOME, which a
  // read-only root filesystem (the Kubernetes pod) does not let it create.
  const userCertificateManager = new OPCUACertificateManager({ rootFolder: join(config.pkiDir, 'user'), automaticallyAcceptUnknownCertificate: false });
  await userCertificateManager.initialize();

  const server = new OPCUAServer({
    port: config.port,
    host: config.bindHost,
    hostname: config.hostname,
    resourcePath: '',
    securityPolicies: secure ? [SecurityPolicy.Basic256Sha256] : [SecurityPolicy.None],
    securityModes: secure ? [MessageSecurityMode.SignAndEncrypt] : [MessageSecurityMode.None],
    allowAnonymous: true,
    // Values change only at clock ticks, and each change is pushed by setValueFromSource: an item
    // asking for sampling interval 0 is served every change, none folded into a coalescing window.
    serverCapabilities: { minSupportedSampleRate: 0 },
    serverCertificateManager: certificateManager,
    userCertificateManager,
    serverInfo: {
      applicationUri: `urn:nested-edge:${config.source}`,
      productUri: PLC_NAMESPACE_URI,
      applicationName: { text: `nested-edge ${config.source}` },
    },
    buildInfo: { productName: 'nested-edge opc-plc', manufacturerName: 'nested-edge', softwareVersion: '0.1.0' },
  });

  const clocks: SteadyClock[] = [];
  const ticks: Record<Clock, number> = { fast: 0, slow: 0 };
  let started = false;
  const stop = async (graceMs = 1000): Promise<void> => {
    for (const c of clocks.splice(0)) c.stop();
    if (started) {
      started = false;
      const shutdown = server.shutdown(graceMs).then(
        () => true,
        (err: unknown) => {
          log.warn('server shutdown failed', { error: String(err) });
          return true;
        },
      );
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs + 5000)));
      const done = await Promise.race([shutdown, expired]);
      clearTimeout(timer);
      if (!done) log.warn('server shutdown timed out', { graceMs });
    }
    await certificateManager.dispose();
    await userCertificateManager.dispose();
  };

  try {
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    if (!addressSpace) throw new Error('OPC UA server initialised without an address space');
    const namespace = addressSpace.registerNamespace(PLC_NAMESPACE_URI);
    const nodes = plcNodes(config);
    const variables = buildAddressSpace(namespace, addressSpace.rootFolder.objects, nodes);

    // every variable holds its tick-0 value before the first client can read it
    const update = (clock: Clock): void => {
      const now = new Date();
      for (const v of variables) {
        if (v.node.clock !== clock) continue;
        v.variable.setValueFromSource({ dataType: DATA_TYPES[v.node.dataType], value: v.node.value(ticks[clock]) }, StatusCodes.Good, now);
      }
    };
    update('fast');
    update('slow');

    started = true; // from here on, stop() shuts the server down, even if start() fails half way
    await server.start();
    const endpointUrl = server.getEndpointUrl();
    for (const clock of ['fast', 'slow'] as const) {
      if (!variables.some((v) => v.node.clock === clock)) continue;
      clocks.push(
        startClock(config[clock].rateMs, () => {
          ticks[clock] += 1;
          update(clock);
        }),
      );
    }
    log.info('opc ua server started', {
      endpointUrl,
      security: config.security,
      namespaceUri: PLC_NAMESPACE_URI,
      namespaceIndex: namespace.index,
      nodes: nodes.length,
      fastRateMs: config.fast.rateMs,
      slowRateMs: config.slow.rateMs,
    });
    server.on('session_activated', (session) => log.info('session activated', { session: session.sessionName, client: session.clientDescription?.applicationUri }));
    server.on('session_closed', (session) => log.info('session closed', { session: session.sessionName }));

    return {
      endpointUrl,
      namespaceUri: PLC_NAMESPACE_URI,
      namespaceIndex: namespace.index,
      nodes,
      nodeId: (id) => `ns=${namespace.index};s=${id}`,
      ticks: (clock) => ticks[clock],
      stop,
    };
  } catch (err) {
    await stop(0);
    throw err;
  }
}

interface BoundVariable {
  node: PlcNode;
  variable: UAVariable;
}

/** Objects/OpcPlc/Telemetry[/Fast|/Slow]/<node>, every node id a stable string in our namespace. */
function buildAddressSpace(namespace: Namespace, objects: UAObject, nodes: readonly PlcNode[]): BoundVariable[] {
  const plc = namespace.addFolder(objects, { browseName: 'OpcPlc', nodeId: 's=OpcPlc' });
  const telemetry = namespace.addFolder(plc, { browseName: 'Telemetry', nodeId: 's=Telemetry' });
  const folders = new Map<string, UAObject>();
  const folderFor = (name: 'Fast' | 'Slow' | undefined): UAObject => {
    if (name === undefined) return telemetry;
    let folder = folders.get(name);
    if (!folder) {
      folder = namespace.addFolder(telemetry, { browseName: name, nodeId: `s=Telemetry.${name}` });
      folders.set(name, folder);
    }
    return folder;
  };
  return nodes.map((node) => ({
    node,
    variable: namespace.addVariable({
      organizedBy: folderFor(node.folder),
      browseName: node.id,
      displayName: node.id,
      nodeId: `s=${node.id}`,
      dataType: node.dataType,
      minimumSamplingInterval: 0,
    }),
  }));
}

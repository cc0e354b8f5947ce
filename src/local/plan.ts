// Renders a validated topology into what the local target runs: config files to write and
// processes to start, with every address on loopback. Pure apart from port allocation, so the
// netns target can reuse it with other addresses.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerUrl, DAPR_CONFIGURATION_NAME, daprConfiguration, localFileSecretStore, pubsubComponent, resiliencyPolicy, toYaml } from '../config/dapr.js';
import { type Credentials } from '../config/credentials.js';
import { bridgeClientId, renderAclFile, renderMosquittoConf, renderPasswordFile } from '../config/mosquitto.js';
import type { BrokerPki } from '../pki/broker-pki.js';
import { levelByName, parentFirst, usesDapr, type Level, type Topology, type Workload } from '../topology/model.js';
import { workloadEnv } from '../topology/workload-env.js';
import { WORKLOAD_NODE_FLAGS } from '../topology/node-flags.js';
import { planGatewayStores, type GatewayStoresOutput, type GatewayStoresPlan } from './gateway-stores.js';
import { otelEnv, planBrokerExporter, planCollectors, type BrokerExporterPlan, type CollectorPlan, type OtelOptions } from './otel-plan.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface FileToWrite {
  path: string;
  content: string;
  secret: boolean;
}

export interface ProcessPlan {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  logFile: string;
}

export interface BrokerPlan {
  level: Level;
  /** Where the workload listener is. */
  host: string;
  /** Where the child listener(s) are (TLS). */
  childHosts: string[];
  process: ProcessPlan;
  persistenceDir: string;
}

export interface WorkloadPlan {
  level: Level;
  workload: Workload;
  app: ProcessPlan;
  daprd?: ProcessPlan & {
    httpPort: number;
    appPort?: number;
  };
  reportFile: string;
  /** A file that must exist before this workload starts (e.g. the PLC's publishednodes.json). */
  waitForFile?: string;
}

export interface LocalPlan {
  dataDir: string;
  files: FileToWrite[];
  /** Parent first. */
  brokers: BrokerPlan[];
  /** In start order: consumers before producers, servers before their clients. */
  workloads: WorkloadPlan[];
  sinkFile: string;
  /** The data gateway's stores (what the runner starts for it and reads back). */
  gatewayStores?: GatewayStoresPlan;
  monitor: Array<{ level: string; host: string; port: number; username: string; password: string }>;
  /** DataSetWriterGroup -> opc-plc workload name, for the summary. */
  opcGroups: Record<string, string>;
  /** OpenTelemetry Collectors, parent first; empty unless PlanOptions.otel is set. */
  collectors: CollectorPlan[];
  /** The top level's collector output (OTLP JSON lines); undefined without collectors. */
  telemetryFile?: string;
  /** A $SYS exporter per level beside its broker, parent first; empty without collectors. */
  brokerExporters: BrokerExporterPlan[];
}

export interface PlanOptions {
  dataDir: string;
  daprdPath: string;
  mosquittoPath: string;
  nodePath: string;
  /**
   * Address of a level's broker workload listener (its sidecars dial it); the local target puts
   * every level on 127.0.0.1, as does the netns target, on each namespace's own loopback.
   */
  hostOf: (level: string) => string;
  /** Addresses of a level's child listener(s); defaults to [hostOf(level)]. */
  childHostsOf?: (level: string) => string[];
  /** The address a child level's bridge dials; defaults to hostOf(parent). */
  parentAddressOf?: (child: string, parent: string) => string;
  /** The bridge links' certificates (made by ensureBrokerPki with childHostsOf's names). */
  pki: BrokerPki;
  /**
   * Where a level's sidecars and apps listen (Dapr APIs, app channel, OPC UA server): reachable
   * from that level only. Defaults to hostOf; the netns target keeps them on the namespace's
   * loopback, so no other level can call a sidecar.
   */
  appHostOf?: (level: string) => string;
  /**
   * Wraps each process's command line for its level (the netns target: `ip netns exec <ns> ...`).
   * Defaults to running it as it is.
   */
  wrap?: (level: string, command: string, args: string[]) => { command: string; args: string[] };
  runAsUser?: string;
  allocatePort: () => Promise<number>;
  logLevel?: string;
  /** A collector per level, started before the brokers (off when absent). */
  otel?: OtelOptions;
}

const START_ORDER: Record<Workload['type'], number> = { 'data-gateway': 0, 'opc-plc': 1, 'opc-publisher': 2, 'temperature-sensor': 3 };

export async function buildLocalPlan(topology: Topology, creds: Credentials, opts: PlanOptions): Promise<LocalPlan> {
  const appHostOf = opts.appHostOf ?? opts.hostOf;
  const childHostsOf = opts.childHostsOf ?? ((level: string) => [opts.hostOf(level)]);
  const parentAddressOf = opts.parentAddressOf ?? ((_child: string, parent: string) => opts.hostOf(parent));
  const wrapped = (level: string, command: string, args: string[]): { command: string; args: string[] } => (opts.wrap ? opts.wrap(level, command, args) : { command, args });
  const files: FileToWrite[] = [];
  const brokers: BrokerPlan[] = [];
  const workloads: WorkloadPlan[] = [];
  const monitor: LocalPlan['monitor'] = [];
  const opcGroups: Record<string, string> = {};
  let sinkFile = '';
  let gatewayStores: GatewayStoresPlan | undefined;
  const otel = opts.otel ? await planCollectors(topology, opts.otel, { dataDir: opts.dataDir, hostOf: opts.hostOf, childHostsOf, parentAddressOf, pki: opts.pki, allocatePort: opts.allocatePort, wrap: wrapped }) : undefined;
  if (otel) files.push(...otel.files);
  const brokerExporters: BrokerExporterPlan[] = [];

  for (const level of parentFirst(topology)) {
    const dir = join(opts.dataDir, level.name, 'broker');
    const paths = { persistenceDir: join(dir, 'data'), passwordFile: join(dir, 'passwd'), aclFile: join(dir, 'acl') };
    const parentLevel = level.parent === undefined ? undefined : levelByName(topology, level.parent);
    const bridgeUser = parentLevel ? creds.levels[parentLevel.name]?.bridges[level.name] : undefined;
    const tlsFiles = opts.pki.levels[level.name];
    if (!tlsFiles) throw new Error(`the broker PKI has no certificates for level ${level.name}`);
    const conf = renderMosquittoConf({
      level,
      bindAddress: opts.hostOf(level.name),
      childBindAddresses: childHostsOf(level.name),
      tls: { trustFile: opts.pki.trustFile, serverCert: tlsFiles.server.cert, serverKey: tlsFiles.server.key, bridgeCert: tlsFiles.bridge?.cert, bridgeKey: tlsFiles.bridge?.key },
      parent: parentLevel && bridgeUser ? { host: parentAddressOf(level.name, parentLevel.name), port: parentLevel.broker.childPort, bridgeUser } : undefined,
      storeAndForward: topology.storeAndForward,
      paths,
      runAsUser: opts.runAsUser,
    });
    // The bridge password is in mosquitto.conf, so the whole file is a secret.
    files.push({ path: join(dir, 'mosquitto.conf'), content: conf, secret: true });
    files.push({ path: paths.passwordFile, content: renderPasswordFile(level.name, creds), secret: true });
    files.push({ path: paths.aclFile, content: renderAclFile(level.name, creds), secret: true });
    brokers.push({
      level,
      host: opts.hostOf(level.name),
      childHosts: childHostsOf(level.name),
      persistenceDir: paths.persistenceDir,
      process: { name: `${level.name}/mosquitto`, ...wrapped(level.name, opts.mosquittoPath, ['-c', join(dir, 'mosquitto.conf')]), env: {}, logFile: join(dir, 'mosquitto.log') },
    });
    const m = creds.levels[level.name]!.monitor;
    monitor.push({ level: level.name, host: opts.hostOf(level.name), port: level.broker.workloadPort, username: m.username, password: m.password });
    const levelCollector = otel?.collectors.find((c) => c.level.name === level.name);
    if (levelCollector) {
      const planned = planBrokerExporter(levelCollector, monitor.at(-1)!, { dataDir: opts.dataDir, nodePath: opts.nodePath, wrap: wrapped, ...(parentLevel ? { bridge: { clientId: bridgeClientId(level.name), parent: parentLevel.name, peer: `${parentAddressOf(level.name, parentLevel.name)}:${parentLevel.broker.childPort}` } } : {}) });
      brokerExporters.push(planned.exporter);
      files.push(...planned.files);
    }

    for (const workload of level.workloads) {
      const wdir = join(opts.dataDir, level.name, workload.name);
      const reportFile = join(wdir, 'report.json');
      const env: Record<string, string> = {
        EDGE_SOURCE: workload.name,
        EDGE_LEVEL: level.name,
        EDGE_REPORT_FILE: reportFile,
        LOG_LEVEL: opts.logLevel ?? 'info',
        ...workloadEnv(workload),
      };
      const collector = otel?.collectors.find((c) => c.level.name === level.name);
      if (collector) Object.assign(env, otelEnv(collector, workload));
      let daprd: WorkloadPlan['daprd'];
      let waitForFile: string | undefined;
      if (workload.type === 'opc-plc') {
        env.OPC_HOSTNAME = appHostOf(level.name);
        env.OPC_PKI_DIR = join(wdir, 'pki');
        env.PLC_PUBLISHED_NODES_FILE = join(wdir, 'publishednodes.json');
        opcGroups[workload.name] = workload.name;
      }
      if (workload.type === 'opc-publisher') {
        const plcName = workload.config.endpointWorkload;
        if (typeof plcName === 'string') {
          waitForFile = join(opts.dataDir, level.name, plcName, 'publishednodes.json');
          env.PUBLISHED_NODES_FILE = waitForFile;
        } else {
          env.PUBLISHED_NODES_FILE = join(wdir, 'publishednodes.json');
        }
      }
      let gateway: GatewayStoresOutput | undefined;
      if (workload.type === 'data-gateway') {
        sinkFile = join(wdir, 'sink.jsonl');
        env.GATEWAY_SINK_FILE = sinkFile;
        gateway = planGatewayStores({ workload, wdir, env, appId: workload.name, isolated: opts.wrap !== undefined }, 'edge-secrets');
        Object.assign(env, gateway.env);
        gatewayStores = gateway.stores;
      }
      if (usesDapr(workload.type)) {
        const componentName = 'pubsub';
        const componentsDir = join(wdir, 'components');
        const secretsFile = join(wdir, 'secrets.json');
        const user = creds.levels[level.name]!.workloads[workload.name]!;
        const url = brokerUrl(user, opts.hostOf(level.name), level.broker.workloadPort);
        files.push({ path: secretsFile, content: JSON.stringify({ 'broker-url': url, ...gateway?.secrets }), secret: true });
        if (gateway) {
          // The gateway releases its sidecar's session after a restart (session-release.ts).
          const sessionUrlFile = join(wdir, 'session-broker-url');
          files.push({ path: sessionUrlFile, content: url, secret: true });
          env.GATEWAY_SESSION_BROKER_URL_FILE = sessionUrlFile;
        }
        files.push({
          path: join(componentsDir, 'components.yaml'),
          content: toYaml([
            localFileSecretStore('edge-secrets', secretsFile, workload.name),
            pubsubComponent({ componentName, appId: workload.name, urlSecret: { name: 'broker-url', key: 'broker-url' }, secretStore: 'edge-secrets' }),
            resiliencyPolicy(componentName, workload.name),
            ...(gateway?.components ?? []),
          ]),
          secret: false,
        });
        // With collectors, the sidecar's own spans (W3C, every request sampled) go to its level's
        // collector over OTLP/gRPC, so a message's trace shows the Dapr hops too.
        let configArgs: string[] = [];
        if (collector) {
          const configFile = join(wdir, 'dapr-config.yaml');
          files.push({ path: configFile, content: toYaml([daprConfiguration(DAPR_CONFIGURATION_NAME, { samplingRate: '1', otlpEndpoint: `${collector.host}:${collector.ports.grpc}` })]), secret: false });
          configArgs = ['--config', configFile];
        }
        const [httpPort, grpcPort, internalPort, metricsPort] = [await opts.allocatePort(), await opts.allocatePort(), await opts.allocatePort(), await opts.allocatePort()];
        const appPort = workload.type === 'data-gateway' ? await opts.allocatePort() : undefined;
        const host = appHostOf(level.name);
        daprd = {
          name: `${level.name}/${workload.name}/daprd`,
          ...wrapped(level.name, opts.daprdPath, [
            '--app-id', workload.name,
            '--mode', 'standalone',
            '--resources-path', componentsDir,
            '--dapr-listen-addresses', host,
            '--dapr-http-port', String(httpPort),
            '--dapr-grpc-port', String(grpcPort),
            '--dapr-internal-grpc-port', String(internalPort),
            '--metrics-port', String(metricsPort),
            '--log-level', 'warn',
            ...configArgs,
            ...(appPort ? ['--app-port', String(appPort), '--app-protocol', 'http', '--app-channel-address', host] : []),
          ]),
          env: {},
          logFile: join(wdir, 'daprd.log'),
          httpPort,
          appPort,
        };
        env.DAPR_HOST = host;
        env.DAPR_HTTP_PORT = String(httpPort);
        env.PUBSUB_NAME = componentName;
        if (appPort) {
          env.APP_HOST = host;
          env.APP_PORT = String(appPort);
        }
      }
      workloads.push({
        level,
        workload,
        reportFile,
        waitForFile,
        daprd,
        app: { name: `${level.name}/${workload.name}`, ...wrapped(level.name, opts.nodePath, [...WORKLOAD_NODE_FLAGS[workload.type], join(REPO_ROOT, 'dist', 'workloads', workload.type, 'src', 'main.js')]), env, logFile: join(wdir, `${workload.type}.log`) },
      });
    }
  }
  workloads.sort((a, b) => START_ORDER[a.workload.type] - START_ORDER[b.workload.type]);
  return { dataDir: opts.dataDir, files, brokers, workloads, sinkFile, gatewayStores, monitor, opcGroups, collectors: otel?.collectors ?? [], telemetryFile: otel?.telemetryFile, brokerExporters };
}

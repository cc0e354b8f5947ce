// The ONE generator of Mosquitto configuration (mosquitto.conf, password file, ACL file),
// used by every target. Targets differ only in addresses and paths.
import { queueBounds, type Level, type StoreAndForward } from '../topology/model.js';
import { MONITOR_USER, mosquittoPasswordLine, type BrokerUser, type Credentials } from './credentials.js';

/** The TLS files of one broker, as paths where the broker reads them. */
export interface BrokerTlsPaths {
  /** CA certificates trusted on the child listener and by the bridge (two during a rotation). */
  trustFile: string;
  /** Presented on the child listener. */
  serverCert: string;
  serverKey: string;
  /** Presented by the bridge to the parent; only for a level with a parent. */
  bridgeCert?: string;
  bridgeKey?: string;
}

export const TELEMETRY_TOPIC = 'telemetry';
export const DEADLETTER_TOPIC = 'deadletter';

export interface BrokerPaths {
  persistenceDir: string;
  passwordFile: string;
  aclFile: string;
}

export interface BrokerConfigInput {
  level: Level;
  /** Address the workload listener binds to (127.0.0.1 locally, 0.0.0.0 in a pod). */
  bindAddress: string;
  /**
   * Addresses the child listener binds to, one listener each (the netns target: one per link to
   * a child). Defaults to bindAddress.
   */
  childBindAddresses?: string[];
  /** The child listener and the bridge speak TLS 1.2+ with client certificates, always. */
  tls: BrokerTlsPaths;
  /** Listener ports; default to the topology's. Kubernetes uses the standard ports instead. */
  ports?: { workloadPort: number; childPort: number };
  /** Where the parent's child listener is reachable; undefined for the top level. */
  parent?: { host: string; port: number; bridgeUser: BrokerUser };
  storeAndForward: StoreAndForward;
  paths: BrokerPaths;
  /** The OS user Mosquitto runs as; it must own persistenceDir or persistence silently fails. */
  runAsUser?: string;
}

/** The bridge's client id at the parent: stable per child, so its session (and queue) survives restarts. */
export function bridgeClientId(childLevel: string): string {
  return `bridge-${childLevel}`;
}

export function bridgeConnectionName(level: string, parent: string): string {
  return `${level}-to-${parent}`;
}

export function renderMosquittoConf(input: BrokerConfigInput): string {
  const { level, bindAddress, parent, paths, tls } = input;
  const ports = input.ports ?? level.broker;
  const { maxQueuedMessages, maxQueuedBytes } = queueBounds(input.storeAndForward);
  const lines = [
    `# Mosquitto for level ${level.name} (ISA-95 ${level.isa95}). Generated: do not edit by hand.`,
    ...(input.runAsUser ? [`user ${input.runAsUser}`] : []),
    'per_listener_settings false',
    'allow_anonymous false',
    `password_file ${paths.passwordFile}`,
    `acl_file ${paths.aclFile}`,
    '',
    '# Store-and-forward: persist to disk every second, not the default 30 minutes, so a',
    '# killed broker loses at most one second of queued messages.',
    'persistence true',
    `persistence_location ${withSlash(paths.persistenceDir)}`,
    'autosave_interval 1',
    '# Queue bounds sized from storeAndForward (rate x retention x size); the default 1000',
    '# would drop silently. Overflow is logged ("Outgoing messages are being dropped").',
    `max_queued_messages ${maxQueuedMessages}`,
    `max_queued_bytes ${maxQueuedBytes}`,
    'max_inflight_messages 100',
    'queue_qos0_messages false',
    'max_packet_size 262144',
    '# Acknowledgements go out at once: with Nagle, a PUBACK waited for the client\'s delayed ACK',
    '# (tens of ms), which capped a sidecar publishing at QoS 1 at about 750 msg/s.',
    'set_tcp_nodelay true',
    '',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'log_timestamp_format %Y-%m-%dT%H:%M:%S',
    'connection_messages true',
    'sys_interval 1',
    '',
    `# This level's own workloads (their Dapr sidecars).`,
    `listener ${ports.workloadPort} ${bindAddress}`,
  ];
  for (const address of input.childBindAddresses ?? [bindAddress]) {
    lines.push(
      '',
      '# Bridges of child levels connect here (nothing connects downward): TLS 1.2 or later, and',
      '# a client certificate from this install\'s CA as well as the bridge user\'s password.',
      `listener ${ports.childPort} ${address}`,
      `cafile ${tls.trustFile}`,
      `certfile ${tls.serverCert}`,
      `keyfile ${tls.serverKey}`,
      'require_certificate true',
      'tls_version tlsv1.2',
    );
  }
  if (parent) {
    if (!tls.bridgeCert || !tls.bridgeKey) throw new Error(`level ${level.name} has a parent but no bridge client certificate`);
    lines.push(
      '',
      `# The one outbound link: a bridge to the parent level ${level.parent}.`,
      `connection ${bridgeConnectionName(level.name, level.parent ?? 'parent')}`,
      `address ${parent.host}:${parent.port}`,
      'bridge_protocol_version mqttv311',
      `remote_clientid ${bridgeClientId(level.name)}`,
      `remote_username ${parent.bridgeUser.username}`,
      `remote_password ${parent.bridgeUser.password}`,
      `local_clientid ${bridgeClientId(level.name)}-local`,
      '# mTLS to the parent: its certificate must name the address dialled and come from a trusted',
      '# CA. The files are read again at every connection attempt.',
      `bridge_cafile ${tls.trustFile}`,
      `bridge_certfile ${tls.bridgeCert}`,
      `bridge_keyfile ${tls.bridgeKey}`,
      'bridge_tls_version tlsv1.2',
      'bridge_insecure false',
      '# A persistent session at both ends keeps queued messages across link and broker restarts.',
      'cleansession false',
      'start_type automatic',
      'restart_timeout 1 15',
      'keepalive_interval 20',
      'try_private true',
      'notifications true',
      'notifications_local_only true',
      '# QoS 1 is essential: a topic line without QoS is QoS 0 and nothing is queued while the link is down.',
      `topic ${TELEMETRY_TOPIC}/# out 1`,
      `topic ${TELEMETRY_TOPIC} out 1`,
    );
  }
  return lines.join('\n') + '\n';
}

/** The password file of one level's broker: its workloads, its children's bridges, the monitor. */
export function renderPasswordFile(levelName: string, creds: Credentials): string {
  const users = levelUsers(levelName, creds);
  return users.map((u) => mosquittoPasswordLine(u)).join('\n') + '\n';
}

/** Every user of one level's broker: its workloads, its children's bridges, the monitor. */
export function levelUsers(levelName: string, creds: Credentials): BrokerUser[] {
  const c = creds.levels[levelName];
  if (!c) throw new Error(`no credentials for level ${levelName}`);
  return [...Object.values(c.workloads), ...Object.values(c.bridges), c.monitor];
}

/**
 * ACL: workloads read and write telemetry and dead letters; a child's bridge may only WRITE
 * telemetry (it never receives anything from above); the monitor only reads $SYS.
 */
export function renderAclFile(levelName: string, creds: Credentials): string {
  const c = creds.levels[levelName];
  if (!c) throw new Error(`no credentials for level ${levelName}`);
  const blocks: string[] = [`# ACL for level ${levelName}. Generated: do not edit by hand.`];
  for (const w of Object.values(c.workloads)) {
    blocks.push(`user ${w.username}`, `topic readwrite ${TELEMETRY_TOPIC}`, `topic readwrite ${TELEMETRY_TOPIC}/#`, `topic readwrite ${DEADLETTER_TOPIC}`, `topic readwrite ${DEADLETTER_TOPIC}/#`, '');
  }
  for (const b of Object.values(c.bridges)) {
    blocks.push(`user ${b.username}`, `topic write ${TELEMETRY_TOPIC}`, `topic write ${TELEMETRY_TOPIC}/#`, '');
  }
  blocks.push(`user ${MONITOR_USER}`, 'topic read $SYS/#', '');
  return blocks.join('\n');
}

function withSlash(dir: string): string {
  return dir.endsWith('/') ? dir : `${dir}/`;
}

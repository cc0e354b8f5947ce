// The ONE generator of OpenTelemetry Collector configuration (for tools/otelcol, `otelcol-edge`).
// Telemetry follows the data plane's rule: a level's collector receives OTLP from its own level
// (and from its child levels' collectors) and forwards to its parent's collector only; only the
// top level's collector writes anything out: a file (the embedded default) and, optionally, OTLP
// to an endpoint outside the site. Child collectors arrive on their own receivers (one per link,
// gRPC with mTLS from the install's PKI); a level's own metrics (its receiver `otlp` only) are also
// kept in a rotated file in the level's data dir, so `edge status` can read each level even
// while the link above it is cut.
import yaml from 'js-yaml';

/** The OTLP ports, as everywhere in OpenTelemetry; the local target allocates its own. */
export const OTLP_GRPC_PORT = 4317;
export const OTLP_HTTP_PORT = 4318;

/** Where the top level's collector sends telemetry out of the site, besides its file. */
export interface OtlpUpstream {
  /** `grpc`: endpoint is host:port (TLS unless `insecure`); `http`: the base URL (/v1/traces etc. are appended). */
  protocol: 'grpc' | 'http';
  endpoint: string;
  /** gRPC without TLS (a collector on a trusted network); ignored for http, where the URL's scheme decides. */
  insecure?: boolean;
  /** http only: the top level's egress proxy, e.g. http://127.0.0.1:3128. */
  proxyUrl?: string;
}

/** PEM files for mutual TLS: the CA bundle trusted, and this end's certificate and key. */
export interface MutualTlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface OtelCollectorInput {
  levelName: string;
  /** The level's own address: where the OTLP receivers listen. */
  bindAddress: string;
  ports: { grpc: number; http: number };
  /**
   * The parent level's collector (its child receiver, OTLP/gRPC). Set for every level but the top.
   * With `tls`: mTLS, the address dialled must be in the parent's certificate (as for the bridge).
   */
  parent?: { host: string; grpcPort: number; tls?: MutualTlsFiles };
  /**
   * Where this level's child collectors deliver: an OTLP/gRPC receiver per address (the netns
   * target: one per link to a child), all on `port`, requiring a client certificate of the CA.
   */
  children?: { hosts: string[]; port: number; tls: MutualTlsFiles };
  /**
   * This level's own metrics (receiver `otlp`: its workloads and broker exporter, not its
   * children's) as OTLP JSON lines, rotated small: what `edge status` reads for this level.
   */
  levelMetricsFile?: string;
  /** The top level only: the file it writes (OTLP JSON, one request per line) and an optional upstream. */
  top?: { file: string; upstream?: OtlpUpstream };
  /** The collector's own metrics (Prometheus text on /metrics); absent: none, so no port is bound. */
  selfMetrics?: { host: string; port: number };
  /** memory_limiter's hard limit (default 256 MiB): refuse data before the process is killed. */
  memoryLimitMiB?: number;
  /**
   * Export requests held in memory while the next hop is down (default 1000); beyond it the
   * receiver refuses new data (the sender retries) and the refusal is counted in the collector's
   * metrics (otelcol_exporter_enqueue_failed_*), never dropped silently.
   */
  queueSize?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export class OtelCollectorConfigError extends Error {}

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;

function problemsOf(input: OtelCollectorInput): string[] {
  const problems: string[] = [];
  const port = (p: number, what: string): void => {
    if (!Number.isInteger(p) || p < 1 || p > 65535) problems.push(`${what} must be a TCP port 1-65535 (got ${p})`);
  };
  port(input.ports.grpc, 'ports.grpc');
  port(input.ports.http, 'ports.http');
  if (input.ports.grpc === input.ports.http) problems.push('ports.grpc and ports.http must differ');
  if (input.selfMetrics) port(input.selfMetrics.port, 'selfMetrics.port');
  // Exactly one way out: the parent, or (top level only) the file.
  if (input.parent && input.top) problems.push('a level has either a parent (and forwards to it only) or is the top (and exports), never both');
  if (!input.parent && !input.top) problems.push('set `parent` (a lower level) or `top` (the top level): a collector must send its telemetry somewhere');
  if (input.parent) port(input.parent.grpcPort, 'parent.grpcPort');
  if (input.children) {
    port(input.children.port, 'children.port');
    if (input.children.hosts.length === 0) problems.push('children.hosts must name at least one address');
    if ([input.ports.grpc, input.ports.http].includes(input.children.port) && input.children.hosts.includes(input.bindAddress)) problems.push('children.port must differ from ports.grpc and ports.http on the same address');
  }
  if (input.top && !input.top.file) problems.push('top.file must name the file the top level writes');
  const up = input.top?.upstream;
  if (up) {
    if (up.protocol === 'http') {
      if (!/^https?:\/\/[^/\s]+/.test(up.endpoint)) problems.push(`upstream.endpoint "${up.endpoint}" must be an http(s):// URL for protocol http`);
    } else if (up.protocol === 'grpc') {
      if (!HOST_PORT.test(up.endpoint)) problems.push(`upstream.endpoint "${up.endpoint}" must be host:port for protocol grpc`);
      if (up.proxyUrl !== undefined) problems.push('upstream.proxyUrl is for protocol http only (gRPC reads HTTPS_PROXY from its environment)');
    } else problems.push(`upstream.protocol must be grpc or http (got ${JSON.stringify(up.protocol)})`);
  }
  if (input.memoryLimitMiB !== undefined && !(Number.isInteger(input.memoryLimitMiB) && input.memoryLimitMiB >= 32)) problems.push('memoryLimitMiB must be a whole number >= 32');
  if (input.queueSize !== undefined && !(Number.isInteger(input.queueSize) && input.queueSize > 0)) problems.push('queueSize must be a positive whole number');
  return problems;
}

/** Retry while the next hop is down, for as long as the bounded queue holds (0 = never give up). */
function reliable(queueSize: number): Record<string, unknown> {
  return {
    sending_queue: { enabled: true, sizer: 'requests', queue_size: queueSize },
    retry_on_failure: { enabled: true, initial_interval: '1s', max_interval: '30s', max_elapsed_time: '0s' },
  };
}

function exportersOf(input: OtelCollectorInput, queueSize: number): Record<string, unknown> {
  if (input.parent) {
    // Child -> parent only: the one exporter of a lower level; mTLS with the bridge PKI when given.
    const tls = input.parent.tls ? clientTls(input.parent.tls) : { insecure: true };
    return { 'otlp_grpc/parent': { endpoint: `${input.parent.host}:${input.parent.grpcPort}`, tls, ...reliable(queueSize) } };
  }
  const exporters: Record<string, unknown> = {
    // OTLP JSON lines; rotated so a long-running site cannot fill its disk.
    file: { path: input.top!.file, format: 'json', flush_interval: '1s', rotation: { max_megabytes: 100, max_backups: 3 } },
  };
  const up = input.top!.upstream;
  if (up?.protocol === 'grpc') {
    exporters['otlp_grpc/upstream'] = { endpoint: up.endpoint, ...(up.insecure === true ? { tls: { insecure: true } } : {}), ...reliable(queueSize) };
  } else if (up?.protocol === 'http') {
    exporters['otlp_http/upstream'] = { endpoint: up.endpoint, ...(up.proxyUrl !== undefined ? { proxy_url: up.proxyUrl } : {}), ...reliable(queueSize) };
  }
  return exporters;
}

// The files are read again every minute, so a certificate rotation needs no collector restart.
const clientTls = (t: MutualTlsFiles) => ({ ca_file: t.ca, cert_file: t.cert, key_file: t.key, min_version: '1.2', reload_interval: '1m' });
const serverTls = (t: MutualTlsFiles) => ({ client_ca_file: t.ca, cert_file: t.cert, key_file: t.key, min_version: '1.2', reload_interval: '1m' });

/** The receivers of one level: `otlp` for its own processes, `otlp/child_<i>` per child listener. */
function receiversOf(input: OtelCollectorInput): Record<string, unknown> {
  const receivers: Record<string, unknown> = {
    otlp: { protocols: { grpc: { endpoint: `${input.bindAddress}:${input.ports.grpc}` }, http: { endpoint: `${input.bindAddress}:${input.ports.http}` } } },
  };
  const children = input.children;
  children?.hosts.forEach((host, i) => {
    receivers[`otlp/child_${i}`] = { protocols: { grpc: { endpoint: `${host}:${children.port}`, tls: serverTls(children.tls) } } };
  });
  return receivers;
}

/** The collector configuration of one level, as YAML (`otelcol-edge --config FILE`). */
export function renderOtelCollectorConfig(input: OtelCollectorInput): string {
  const problems = problemsOf(input);
  if (problems.length) throw new OtelCollectorConfigError(`collector config for ${input.levelName}:\n  - ${problems.join('\n  - ')}`);
  const memoryLimitMiB = input.memoryLimitMiB ?? 256;
  const queueSize = input.queueSize ?? 1000;
  const exporters = exportersOf(input, queueSize);
  const receivers = receiversOf(input);
  const processors = ['memory_limiter', 'batch'];
  const pipeline = { receivers: Object.keys(receivers), processors, exporters: Object.keys(exporters) };
  const pipelines: Record<string, unknown> = { traces: pipeline, metrics: pipeline, logs: pipeline };
  if (input.levelMetricsFile) {
    // Local and bounded (10 MB and one backup: hours of a level's metrics) for `edge status`; never sent anywhere.
    exporters['file/level'] = { path: input.levelMetricsFile, format: 'json', flush_interval: '1s', rotation: { max_megabytes: 10, max_backups: 1 } };
    pipelines['metrics/level'] = { receivers: ['otlp'], processors, exporters: ['file/level'] };
  }
  const config = {
    receivers,
    processors: {
      // First in every pipeline: refuses data (the sender retries) before the process runs out of memory.
      memory_limiter: { check_interval: '1s', limit_mib: memoryLimitMiB, spike_limit_mib: Math.ceil(memoryLimitMiB / 5) },
      batch: { timeout: '200ms', send_batch_size: 8192 },
    },
    exporters,
    service: {
      telemetry: {
        logs: { level: input.logLevel ?? 'info', encoding: 'json' },
        // Never the default (localhost:8888): every level's collector would claim the same port.
        metrics: input.selfMetrics
          ? {
              level: 'normal',
              readers: [{ pull: { exporter: { prometheus: { host: input.selfMetrics.host, port: input.selfMetrics.port, without_scope_info: true, without_units: true, without_type_suffix: true } } } }],
            }
          : { level: 'none' },
        resource: { attributes: [{ name: 'service.name', value: 'otelcol-edge' }, { name: 'edge.level', value: input.levelName }] },
      },
      pipelines,
    },
  };
  const role = input.parent ? `forwards to its parent's collector (${input.parent.host}:${input.parent.grpcPort}) only` : 'the top level: the only collector that exports';
  return `# OpenTelemetry Collector for level ${input.levelName}: ${role}.\n# Generated by src/config/otel-collector.ts: do not edit by hand.\n` + yaml.dump(config, { lineWidth: -1, noRefs: true });
}

/**
 * An upstream from one string (a CLI flag, a bundle parameter): `http(s)://host[:port][/path]` is
 * OTLP/HTTP, `grpc://host:port` OTLP/gRPC without TLS, `grpcs://host:port` OTLP/gRPC with TLS.
 */
export function parseOtlpEndpoint(raw: string, proxyUrl?: string): OtlpUpstream {
  const m = /^(https?|grpcs?):\/\/([^/\s]+)(\/\S*)?$/.exec(raw);
  if (!m) throw new OtelCollectorConfigError(`OTLP endpoint "${raw}": use http(s)://host[:port][/path] (OTLP/HTTP), grpc://host:port or grpcs://host:port (OTLP/gRPC)`);
  const [, scheme, authority, path] = m;
  if (scheme === 'http' || scheme === 'https') return { protocol: 'http', endpoint: raw.replace(/\/$/, ''), ...(proxyUrl !== undefined ? { proxyUrl } : {}) };
  if (path && path !== '/') throw new OtelCollectorConfigError(`OTLP endpoint "${raw}": a gRPC endpoint has no path`);
  if (!HOST_PORT.test(authority!)) throw new OtelCollectorConfigError(`OTLP endpoint "${raw}": a gRPC endpoint needs host:port`);
  return scheme === 'grpc' ? { protocol: 'grpc', endpoint: authority!, insecure: true } : { protocol: 'grpc', endpoint: authority! };
}

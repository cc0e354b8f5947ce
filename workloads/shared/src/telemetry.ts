// OpenTelemetry for a workload: metrics and traces over OTLP/HTTP (protobuf) to its level's
// collector, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set. Nothing of OpenTelemetry is loaded
// otherwise: this module imports only types from @opentelemetry/api, and the SDK comes in with a
// dynamic import (telemetry-sdk.ts). Measured on Node 20: importing the API's ESM build alone adds
// about 7 MB of resident memory, the SDK and the OTLP/protobuf exporters about 13 MB more. The
// no-op instruments below cost nothing.
import type { Counter, Gauge, Histogram, MetricOptions, Span, SpanContext, SpanKind, SpanOptions } from '@opentelemetry/api';
import { EnvReader } from './env.js';
import type { Logger } from './log.js';

export interface TelemetryConfig {
  /** Base URL of the collector's OTLP/HTTP receiver; /v1/traces and /v1/metrics are appended. */
  endpoint: string;
  serviceName: string;
  /** From OTEL_RESOURCE_ATTRIBUTES (e.g. edge.level=l2), service.name included. */
  resource: Record<string, string>;
  metricExportIntervalMs: number;
}

/** The part of an OpenTelemetry Meter the workloads use. */
export interface EdgeMeter {
  createCounter(name: string, options?: MetricOptions): Counter;
  createHistogram(name: string, options?: MetricOptions): Histogram;
  createGauge(name: string, options?: MetricOptions): Gauge;
}

/** Starts spans; the parent is a span context (a local span's, or a remote one from a traceparent). */
export interface EdgeTracer {
  startSpan(name: string, options?: SpanOptions, parent?: SpanContext): Span;
}

export interface Telemetry {
  readonly enabled: boolean;
  readonly meter: EdgeMeter;
  readonly tracer: EdgeTracer;
  /** Exports what is pending (bounded) and stops; for the shutdown path. */
  shutdown(): Promise<void>;
}

/** @opentelemetry/api's SpanKind values, here so that using them does not load the API. */
export const SPAN_KIND = { CLIENT: 2 as SpanKind, PRODUCER: 3 as SpanKind, CONSUMER: 4 as SpanKind };
/** SpanStatusCode.ERROR. */
const STATUS_ERROR = 2;
const SAMPLED = 1;

/** Short enough that a test sees counters move, long enough to stay cheap. */
export const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 5_000;

/**
 * OTEL_RESOURCE_ATTRIBUTES: `key=value` pairs separated by commas, `,` `=` and `%` in keys or
 * values percent-encoded (the OpenTelemetry SDK environment specification).
 */
export function parseResourceAttributes(raw: string): { attributes: Record<string, string>; problems: string[] } {
  const attributes: Record<string, string> = {};
  const problems: string[] = [];
  const decode = (s: string): string | undefined => {
    try {
      return decodeURIComponent(s.trim());
    } catch {
      return undefined;
    }
  };
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue;
    const parts = pair.split('=');
    const key = parts.length === 2 ? decode(parts[0]!) : undefined;
    const value = parts.length === 2 ? decode(parts[1]!) : undefined;
    if (key === undefined || value === undefined || key === '') {
      problems.push(`OTEL_RESOURCE_ATTRIBUTES: "${pair}" must be key=value (percent-encode , = and % inside keys and values)`);
      continue;
    }
    attributes[key] = value;
  }
  return { attributes, problems };
}

/** The telemetry settings, or undefined when OTEL_EXPORTER_OTLP_ENDPOINT is unset (telemetry off). */
export function readTelemetryConfig(defaultServiceName: string, env: NodeJS.ProcessEnv = process.env): TelemetryConfig | undefined {
  const reader = new EnvReader(env);
  const endpoint = reader.optionalString('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpoint === undefined) return undefined;
  if (!/^https?:\/\/[^/\s]+(\/\S*)?$/.test(endpoint) || !URL.canParse(endpoint)) reader.problems.push(`OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s):// URL of an OTLP/HTTP receiver (got "${endpoint}")`);
  const protocol = reader.optionalString('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol !== undefined && protocol !== 'http/protobuf') reader.problems.push(`OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf, the only protocol the workloads carry (got "${protocol}")`);
  const serviceName = reader.string('OTEL_SERVICE_NAME', defaultServiceName);
  const parsed = parseResourceAttributes(reader.optionalString('OTEL_RESOURCE_ATTRIBUTES') ?? '');
  reader.problems.push(...parsed.problems);
  const metricExportIntervalMs = reader.int('OTEL_METRIC_EXPORT_INTERVAL', DEFAULT_METRIC_EXPORT_INTERVAL_MS, 100, 3_600_000);
  reader.done();
  return { endpoint: endpoint.replace(/\/+$/, ''), serviceName, resource: { ...parsed.attributes, 'service.name': serviceName }, metricExportIntervalMs };
}

const INVALID_SPAN_CONTEXT: SpanContext = { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 };

/** A span that records nothing (what the API's no-op tracer hands out). */
class NoopSpan implements Span {
  spanContext(): SpanContext {
    return INVALID_SPAN_CONTEXT;
  }
  setAttribute(): this {
    return this;
  }
  setAttributes(): this {
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(): this {
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {}
  isRecording(): boolean {
    return false;
  }
  recordException(): void {}
}

const noopSpan = new NoopSpan();
const noopInstrument = { add: () => undefined, record: () => undefined };

/** Telemetry off: instruments and spans that do nothing, without loading OpenTelemetry. */
export const noTelemetry: Telemetry = {
  enabled: false,
  meter: { createCounter: () => noopInstrument, createHistogram: () => noopInstrument, createGauge: () => noopInstrument },
  tracer: { startSpan: () => noopSpan },
  shutdown: async () => undefined,
};

/** Starts the SDK when the environment asks for it; otherwise the no-op instruments. */
export async function startTelemetry(defaultServiceName: string, log?: Logger, env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  const config = readTelemetryConfig(defaultServiceName, env);
  if (!config) return noTelemetry;
  const { startSdk } = await import('./telemetry-sdk.js');
  return startSdk(config, log);
}

// W3C trace context (https://www.w3.org/TR/trace-context/), version 00.
const TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;
const SPAN_ID = /^(?!0{16})[0-9a-f]{16}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

const isValid = (sc: SpanContext): boolean => TRACE_ID.test(sc.traceId) && SPAN_ID.test(sc.spanId);

/** The `traceparent` of a span, or undefined for a no-op span. */
export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags & SAMPLED ? '01' : '00'}`;
}

/** The remote parent a `traceparent` names; undefined (a new trace) when it is absent or malformed. */
export function spanContextFromTraceparent(traceparent: unknown): SpanContext | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  // version ff is invalid; version 00 has exactly four fields
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined;
  const sc: SpanContext = { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & SAMPLED, isRemote: true };
  return isValid(sc) ? sc : undefined;
}

/** Ends a span, with an error status when `err` is set. */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : new Error(String(err)));
    span.setStatus({ code: STATUS_ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  span.end();
}

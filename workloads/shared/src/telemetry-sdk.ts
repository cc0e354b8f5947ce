// The OpenTelemetry SDK half of telemetry.ts, loaded only when telemetry is on: a meter provider
// exporting on an interval and a tracer provider exporting in batches, both OTLP/HTTP protobuf to
// the level's collector, with the workload's resource.
//
// The packages are loaded through require (their CommonJS builds), not import: measured on
// Node 20, the same packages cost about 13 MB of resident memory that way against about 20 MB as
// ES modules (the ESM builds are some hundred small modules, each with its own overhead).
import { createRequire } from 'node:module';
import type { Span, SpanContext, SpanOptions, Tracer } from '@opentelemetry/api';
import type { Logger } from './log.js';
import type { EdgeTracer, Telemetry, TelemetryConfig } from './telemetry.js';

const require = createRequire(import.meta.url);
const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto') as typeof import('@opentelemetry/exporter-metrics-otlp-proto');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');

/** The instrumentation scope of every span and metric the workloads make. */
export const SCOPE = 'nested-edge';
/** How long the final export may take at shutdown: within the workloads' 15 s shutdown bound. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

/** An SDK tracer behind the EdgeTracer interface: the parent is a span context, not a Context. */
export function edgeTracer(tracer: Tracer): EdgeTracer {
  return {
    startSpan: (name: string, options?: SpanOptions, parent?: SpanContext): Span =>
      tracer.startSpan(name, options, parent && api.isSpanContextValid(parent) ? api.trace.setSpanContext(api.ROOT_CONTEXT, parent) : api.ROOT_CONTEXT),
  };
}

export function startSdk(config: TelemetryConfig, log?: Logger): Telemetry {
  // The SDK reports export failures through diag, silent by default: route them to our log.
  if (log) {
    const write = (severity: 'warn' | 'error') => (message: string, ...args: unknown[]) => log[severity](`opentelemetry: ${message}`, args.length ? { detail: args.map(String).join(' ').slice(0, 500) } : undefined);
    api.diag.setLogger({ error: write('error'), warn: write('warn'), info: () => undefined, debug: () => undefined, verbose: () => undefined }, api.DiagLogLevel.WARN);
  }
  const resource = resourceFromAttributes(config.resource);
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${config.endpoint}/v1/metrics` }),
        exportIntervalMillis: config.metricExportIntervalMs,
        exportTimeoutMillis: Math.min(config.metricExportIntervalMs, 30_000),
      }),
    ],
  });
  const tracerProvider = new TracerProvider({
    resource,
    // Held while the collector is away, up to maxQueueSize spans; beyond that the SDK drops them.
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${config.endpoint}/v1/traces` }), scheduledDelayMillis: 1_000, maxQueueSize: 8_192, maxExportBatchSize: 1_024 })],
  });
  // origin + path only: credentials in the URL's user info never reach the log
  const shown = new URL(config.endpoint);
  log?.info('telemetry on', { endpoint: `${shown.origin}${shown.pathname.replace(/\/$/, '')}`, metricExportIntervalMs: config.metricExportIntervalMs, resource: config.resource });

  let stopped: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    // Both flush first: the last counter values and the spans of the last messages are exported.
    const done = Promise.allSettled([meterProvider.shutdown(), tracerProvider.shutdown()]);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), SHUTDOWN_TIMEOUT_MS)));
    const outcome = await Promise.race([done, expired]);
    clearTimeout(timer);
    if (outcome === 'timeout') log?.warn('telemetry: final export did not finish in time', { timeoutMs: SHUTDOWN_TIMEOUT_MS });
    else for (const r of outcome) if (r.status === 'rejected') log?.warn('telemetry: final export failed', { error: String(r.reason) });
  };
  return {
    enabled: true,
    meter: meterProvider.getMeter(SCOPE),
    tracer: edgeTracer(tracerProvider.getTracer(SCOPE)),
    shutdown: () => (stopped ??= shutdown()),
  };
}

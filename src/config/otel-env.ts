// The ONE generator of a workload's OpenTelemetry environment (the standard OTEL_* variables the
// SDK in workloads/shared/src/telemetry.ts reads), for every target: the local and netns targets
// point it at their level's collector process, Kubernetes at the level's collector Service.

/**
 * How often a level's processes export metrics (the broker exporter; workloads through the
 * standard OTEL_METRIC_EXPORT_INTERVAL): `edge status` computes rates over a few of these.
 */
export const METRIC_EXPORT_INTERVAL_MS = 2_000;

export interface WorkloadOtelTarget {
  /** The level's collector, OTLP/HTTP base URL, e.g. http://127.0.0.1:4318. */
  endpoint: string;
  /** The workload's name: its service.name. */
  serviceName: string;
  /** The level it runs at: resource attribute edge.level. */
  level: string;
}

/** The standard OTel SDK environment that points a workload at its own level's collector. */
export function workloadOtelEnv(target: WorkloadOtelTarget): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: target.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_SERVICE_NAME: target.serviceName,
    OTEL_RESOURCE_ATTRIBUTES: `edge.level=${target.level}`,
    OTEL_METRIC_EXPORT_INTERVAL: String(METRIC_EXPORT_INTERVAL_MS),
  };
}

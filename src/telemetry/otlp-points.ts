// OTLP JSON metrics (as the collector's file exporter writes them, one export request a line)
// flattened into data points: what `edge status` computes from. Pure.

export type Temporality = 'cumulative' | 'delta';

export interface HistogramValue {
  count: number;
  /** Upper bounds; counts has one more entry (the +Inf bucket). */
  bounds: number[];
  counts: number[];
}

export interface MetricPoint {
  name: string;
  /** The resource's `edge.level`. */
  level?: string;
  /** Identifies the series: resource identity plus the point's attributes. */
  series: string;
  attrs: Record<string, string>;
  timeMs: number;
  kind: 'gauge' | 'sum' | 'histogram';
  temporality?: Temporality;
  value?: number;
  histogram?: HistogramValue;
}

interface OtlpAttr {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}
interface OtlpNumberPoint {
  attributes?: OtlpAttr[];
  timeUnixNano?: string | number;
  asInt?: string | number;
  asDouble?: number;
}
interface OtlpHistogramPoint {
  attributes?: OtlpAttr[];
  timeUnixNano?: string | number;
  count?: string | number;
  bucketCounts?: Array<string | number>;
  explicitBounds?: number[];
}
interface OtlpMetric {
  name: string;
  gauge?: { dataPoints?: OtlpNumberPoint[] };
  sum?: { dataPoints?: OtlpNumberPoint[]; aggregationTemporality?: number };
  histogram?: { dataPoints?: OtlpHistogramPoint[]; aggregationTemporality?: number };
}
export interface OtlpMetricsRequest {
  resourceMetrics?: Array<{ resource?: { attributes?: OtlpAttr[] }; scopeMetrics?: Array<{ metrics?: OtlpMetric[] }> }>;
}

function attrsOf(list: OtlpAttr[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list ?? []) {
    const v = a.value.stringValue ?? a.value.intValue ?? a.value.doubleValue ?? a.value.boolValue;
    if (v !== undefined) out[a.key] = String(v);
  }
  return out;
}

const ms = (nanos: string | number | undefined): number => Math.floor(Number(nanos ?? 0) / 1e6);
// Enum 1 is DELTA, 2 CUMULATIVE (the SDKs' default).
const temporalityOf = (t: number | undefined): Temporality => (t === 1 ? 'delta' : 'cumulative');
const sortedJson = (o: Record<string, string>): string => JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));

/** The data points of one export request. */
export function pointsOf(request: OtlpMetricsRequest): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const rm of request.resourceMetrics ?? []) {
    const resource = attrsOf(rm.resource?.attributes);
    const identity = { service: resource['service.name'] ?? '', instance: resource['service.instance.id'] ?? '', level: resource['edge.level'] ?? '' };
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const base = (attributes: OtlpAttr[] | undefined, timeUnixNano: string | number | undefined) => {
          const attrs = attrsOf(attributes);
          return { name: m.name, ...(identity.level ? { level: identity.level } : {}), attrs, series: `${m.name}|${sortedJson(identity)}|${sortedJson(attrs)}`, timeMs: ms(timeUnixNano) };
        };
        const number = (p: OtlpNumberPoint): number => Number(p.asInt ?? p.asDouble ?? NaN);
        for (const p of m.gauge?.dataPoints ?? []) points.push({ ...base(p.attributes, p.timeUnixNano), kind: 'gauge', value: number(p) });
        for (const p of m.sum?.dataPoints ?? []) points.push({ ...base(p.attributes, p.timeUnixNano), kind: 'sum', temporality: temporalityOf(m.sum?.aggregationTemporality), value: number(p) });
        for (const p of m.histogram?.dataPoints ?? []) {
          points.push({
            ...base(p.attributes, p.timeUnixNano),
            kind: 'histogram',
            temporality: temporalityOf(m.histogram?.aggregationTemporality),
            histogram: { count: Number(p.count ?? 0), bounds: p.explicitBounds ?? [], counts: (p.bucketCounts ?? []).map(Number) },
          });
        }
      }
    }
  }
  return points.filter((p) => p.kind === 'histogram' || Number.isFinite(p.value));
}

/** The points of OTLP JSON lines; a line that does not parse (a partial last line) is skipped. */
export function pointsOfLines(text: string): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      points.push(...pointsOf(JSON.parse(line) as OtlpMetricsRequest));
    } catch {
      // a line cut by reading the file's tail, or one being written
    }
  }
  return points;
}

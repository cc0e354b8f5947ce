// A small line-chart writer: SVG text from series of (x, y) points, with axes, grid, ticks and
// a legend. No dependency, no DOM: the benchmarks' plots are a few lines each, and a string is
// easy to test (it is XML) and to open in any browser.
export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  /** Defaults to the palette, by position. */
  color?: string;
  dashed?: boolean;
  /** A dot on each point: for series of a few measured points. */
  markers?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  /** Axis ranges; by default 0 (or the data's minimum if negative) to the data's maximum. */
  xMax?: number;
  yMax?: number;
  /**
   * 'log' for data spanning orders of magnitude (latencies from under 1 ms to seconds): values
   * below LOG_FLOOR (whole milliseconds read 0) are drawn at it.
   */
  xScale?: 'linear' | 'log';
  /** Where the legend goes: the corner the data leaves empty. */
  legend?: 'top-left' | 'bottom-right';
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export const LOG_FLOOR = 0.5;

const MARGIN = { left: 70, right: 20, top: 40, bottom: 55 };
const LEGEND_LINE_PX = 18;
const LEGEND_WIDTH_PX = 220;

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** About `count` round tick values (1, 2 or 5 x 10^n apart) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  // the round step nearest the raw one (on a log scale), so the count stays close to `count`
  const step = [1, 2, 5, 10].map((m) => m * magnitude).reduce((best, s) => (Math.abs(Math.log(s / raw)) < Math.abs(Math.log(best / raw)) ? s : best));
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

/** 1, 2, 5 x 10^n within [min, max]. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = +(m * 10 ** e).toPrecision(12);
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks;
}

/** The first tick at or above max, so the axis ends on a labelled value. */
function niceCeil(min: number, max: number): number {
  const ticks = niceTicks(min, max);
  const last = ticks[ticks.length - 1]!;
  const step = ticks.length > 1 ? last - ticks[ticks.length - 2]! : 0;
  return last >= max || step === 0 ? Math.max(last, max) : +(last + step).toPrecision(12);
}

/** Rounded for the drawing: a tenth of a pixel is plenty. */
const px = (v: number): string => String(Math.round(v * 10) / 10);

export function lineChartSvg(chart: LineChart): string {
  const width = chart.width ?? 720;
  const height = chart.height ?? 440;
  const log = chart.xScale === 'log';
  const all = chart.series.flatMap((s) => s.points);
  const dataXMax = Math.max(1, ...all.map(([x]) => x));
  const xMin = log ? LOG_FLOOR : Math.min(0, ...all.map(([x]) => x));
  const yMin = Math.min(0, ...all.map(([, y]) => y));
  const xMax = chart.xMax ?? (log ? 10 ** Math.ceil(Math.log10(dataXMax)) : niceCeil(xMin, dataXMax));
  const yMax = chart.yMax ?? niceCeil(yMin, Math.max(1, ...all.map(([, y]) => y)));
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const sx = log
    ? (x: number): number => MARGIN.left + (Math.log10(Math.max(x, LOG_FLOOR) / xMin) / Math.log10(xMax / xMin)) * plotW
    : (x: number): number => MARGIN.left + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  const sy = (y: number): number => MARGIN.top + plotH - ((y - yMin) / (yMax - yMin || 1)) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`,
  ];
  for (const x of log ? logTicks(xMin, xMax) : niceTicks(xMin, xMax)) {
    out.push(`<line class="grid" x1="${px(sx(x))}" y1="${MARGIN.top}" x2="${px(sx(x))}" y2="${MARGIN.top + plotH}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${px(sx(x))}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${formatTick(x)}</text>`);
  }
  for (const y of niceTicks(yMin, yMax)) {
    out.push(`<line class="grid" x1="${MARGIN.left}" y1="${px(sy(y))}" x2="${MARGIN.left + plotW}" y2="${px(sy(y))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${px(sy(y) + 4)}" text-anchor="end">${formatTick(y)}</text>`);
  }
  out.push(`<rect class="frame" x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  out.push(`<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escapeXml(chart.yLabel)}</text>`);
  chart.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const points = s.points.map(([x, y]) => `${px(sx(x))},${px(sy(y))}`).join(' ');
    out.push(`<polyline class="series" data-name="${escapeXml(s.name)}" points="${points}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    if (s.markers) for (const [x, y] of s.points) out.push(`<circle class="marker" cx="${px(sx(x))}" cy="${px(sy(y))}" r="3" fill="${color}"/>`);
    const lx = chart.legend === 'bottom-right' ? MARGIN.left + plotW - LEGEND_WIDTH_PX : MARGIN.left + 10;
    const ly = chart.legend === 'bottom-right' ? MARGIN.top + plotH - 10 - (chart.series.length - 1 - i) * LEGEND_LINE_PX : MARGIN.top + 14 + i * LEGEND_LINE_PX;
    out.push(`<line class="legend" x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function formatTick(v: number): string {
  return Math.abs(v) >= 10_000 ? `${+(v / 1000).toPrecision(6)}k` : String(+v.toPrecision(6));
}

// The targets of issue 6, in one place: the benchmarks record them beside their figures and the
// summary (bench/results/summary.md) judges every figure against them.
export const TARGETS = {
  /** P1: the full pipeline sustains at least this fraction of the raw bridge chain's msg/s. */
  p1MinRatio: 0.5,
  /** P1: a rate counts as sustained only while the end-to-end p99 stays at or below this (no growing backlog). */
  p1SustainedP99MaxMs: 1_000,
  /** P2: end-to-end p99 below this at this offered rate. */
  p2: { rate: 1000, p99MaxMs: 50 },
  /** P3: peak resident memory of each workload process at the P2 rate (sidecars and brokers are recorded beside it). */
  p3MaxRssMb: 80,
  /** P4: seconds for an install of the default three levels and a no-op upgrade. */
  p4: { installS: 60, noopUpgradeS: 15 },
  /** OPC UA values per second delivered end to end with zero loss. */
  opcuaValuesPerS: 20_000,
} as const;

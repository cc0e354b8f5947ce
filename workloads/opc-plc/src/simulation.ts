// The PLC's signals as pure functions of a tick count (the number of clock periods since the
// server started), so every value the server shows can be predicted and tested.
//
// Anomaly period: the sine behind SpikeData and DipData has SINE_PERIOD_TICKS (20) ticks per
// cycle. Every ANOMALY_EVERY_CYCLES-th cycle (5) carries one anomaly, so the anomaly period is
// ANOMALY_PERIOD_TICKS = 100 ticks (100 s at the default 1 s fast clock):
//   - SpikeData is SPIKE_VALUE (+1000, ten times the amplitude) at the crest of that cycle,
//     tick ≡ 5 (mod 100), and the plain sine everywhere else;
//   - DipData is DIP_VALUE (-1000) at the trough of that cycle, tick ≡ 15 (mod 100).

export const SINE_PERIOD_TICKS = 20;
export const SINE_AMPLITUDE = 100;
export const ANOMALY_EVERY_CYCLES = 5;
export const ANOMALY_PERIOD_TICKS = SINE_PERIOD_TICKS * ANOMALY_EVERY_CYCLES;
/** Position of the crest and trough within a sine cycle. */
export const CREST_TICK = SINE_PERIOD_TICKS / 4;
export const TROUGH_TICK = (3 * SINE_PERIOD_TICKS) / 4;
export const SPIKE_VALUE = 10 * SINE_AMPLITUDE;
export const DIP_VALUE = -10 * SINE_AMPLITUDE;
/** The trends start here and move by TREND_STEP per tick, for ever. */
export const TREND_START = 100;
export const TREND_STEP = 0.1;

const UINT32 = 2 ** 32;

/** The value type of the fast and slow counter nodes (PLC_FAST_TYPE, PLC_SLOW_TYPE). */
export const COUNTER_TYPES = ['UInt', 'Double', 'Bool'] as const;
export type CounterType = (typeof COUNTER_TYPES)[number];

/** The plain sine shared by SpikeData and DipData, rounded to 1e-6 so values are exact in JSON. */
export function sine(tick: number): number {
  return round6(SINE_AMPLITUDE * Math.sin((2 * Math.PI * tick) / SINE_PERIOD_TICKS));
}

export function isSpikeTick(tick: number): boolean {
  return mod(tick, ANOMALY_PERIOD_TICKS) === CREST_TICK;
}

export function isDipTick(tick: number): boolean {
  return mod(tick, ANOMALY_PERIOD_TICKS) === TROUGH_TICK;
}

/** A sine wave with a spike at the crest of every fifth cycle. */
export function spikeData(tick: number): number {
  return isSpikeTick(tick) ? SPIKE_VALUE : sine(tick);
}

/** A sine wave with a dip at the trough of every fifth cycle. */
export function dipData(tick: number): number {
  return isDipTick(tick) ? DIP_VALUE : sine(tick);
}

/** Rises by TREND_STEP each tick, strictly. */
export function positiveTrend(tick: number): number {
  return round6(TREND_START + TREND_STEP * tick);
}

/** Falls by TREND_STEP each tick, strictly. */
export function negativeTrend(tick: number): number {
  return round6(TREND_START - TREND_STEP * tick);
}

/** A UInt32 that goes up by one each tick and wraps at 2^32. */
export function stepUp(tick: number): number {
  return mod(tick, UINT32);
}

/** False on even ticks, true on odd ones. */
export function alternatingBoolean(tick: number): boolean {
  return mod(tick, 2) === 1;
}

/** Uniform over [0, 2^32 - 1]: a hash of (tick, seed), so a given tick always gives the same value. */
export function randomUnsignedInt32(tick: number, seed = 0): number {
  return mix32(mix32(tick >>> 0) ^ mix32((seed + 0x9e3779b9) >>> 0) ^ (Math.floor(tick / UINT32) >>> 0));
}

/** Uniform over [-2^31, 2^31 - 1], independent of randomUnsignedInt32 for the same tick. */
export function randomSignedInt32(tick: number, seed = 0): number {
  return randomUnsignedInt32(tick, seed ^ 0x5bd1e995) | 0;
}

/** The fast and slow nodes are counters: UInt counts and wraps at 2^32, Double counts, Bool toggles. */
export function counterValue(type: CounterType, tick: number): number | boolean {
  switch (type) {
    case 'UInt':
      return stepUp(tick);
    case 'Double':
      return tick;
    case 'Bool':
      return alternatingBoolean(tick);
  }
}

/** A 32-bit integer finaliser (xor-shift-multiply): every input bit affects every output bit. */
function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function round6(v: number): number {
  const r = Math.round(v * 1e6) / 1e6;
  return r === 0 ? 0 : r; // no -0
}

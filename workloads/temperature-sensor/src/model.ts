// A plausible sensor: each quantity follows a mean-reverting random walk (Ornstein-Uhlenbeck),
// so consecutive readings are correlated like a real machine's, not uniform noise.
export interface Reading {
  machine: { temperature: number; pressure: number };
  ambient: { temperature: number; humidity: number };
  timeCreated: string;
}

interface Walk {
  value: number;
  mean: number;
  reversion: number;
  volatility: number;
  min: number;
  max: number;
}

/** Small seedable PRNG (mulberry32) so tests can reproduce a series. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function step(w: Walk, random: () => number): number {
  w.value += w.reversion * (w.mean - w.value) + w.volatility * gaussian(random);
  w.value = Math.min(w.max, Math.max(w.min, w.value));
  return Math.round(w.value * 1000) / 1000;
}

export class TemperatureModel {
  private readonly random: () => number;
  private readonly machineTemp: Walk = { value: 21, mean: 60, reversion: 0.02, volatility: 0.4, min: -20, max: 150 };
  private readonly machinePressure: Walk = { value: 1, mean: 1.2, reversion: 0.05, volatility: 0.01, min: 0, max: 20 };
  private readonly ambientTemp: Walk = { value: 21, mean: 22, reversion: 0.01, volatility: 0.05, min: -40, max: 60 };
  private readonly humidity: Walk = { value: 40, mean: 45, reversion: 0.01, volatility: 0.2, min: 0, max: 100 };

  constructor(seed: number = Date.now()) {
    this.random = prng(seed);
  }

  next(now: Date = new Date()): Reading {
    return {
      machine: { temperature: step(this.machineTemp, this.random), pressure: step(this.machinePressure, this.random) },
      ambient: { temperature: step(this.ambientTemp, this.random), humidity: step(this.humidity, this.random) },
      timeCreated: now.toISOString(),
    };
  }
}

// The PLC's node catalogue: which variables exist, their stable string ids, data types, clock
// and signal. The server builds its address space from this list and publishedNodesFor turns
// the same list into a publishednodes.json, so the two cannot disagree.
import type { ClockConfig } from './config.js';
import {
  alternatingBoolean,
  counterValue,
  dipData,
  negativeTrend,
  positiveTrend,
  randomSignedInt32,
  randomUnsignedInt32,
  spikeData,
  stepUp,
  type CounterType,
} from './simulation.js';

/** Our namespace, in the spirit of OPC PLC's http://microsoft.com/Opc/OpcPlc/. */
export const PLC_NAMESPACE_URI = 'urn:nested-edge:opc-plc';

export type PlcDataType = 'UInt32' | 'Int32' | 'Double' | 'Boolean';
export type Clock = 'fast' | 'slow';

export interface PlcNode {
  /** The string identifier: the node id is ns=<PLC namespace>;s=<id>. */
  id: string;
  /** Folder under OpcPlc/Telemetry, or undefined for Telemetry itself. */
  folder?: 'Fast' | 'Slow';
  dataType: PlcDataType;
  clock: Clock;
  /** The value at a tick of the node's clock. */
  value: (tick: number) => number | boolean;
}

export interface CatalogueOptions {
  fast: ClockConfig;
  slow: ClockConfig;
  anomalies: boolean;
}

const DATA_TYPE_OF: Record<CounterType, PlcDataType> = { UInt: 'UInt32', Double: 'Double', Bool: 'Boolean' };

export function plcNodes(options: CatalogueOptions): PlcNode[] {
  const counters = (clock: Clock, folder: 'Fast' | 'Slow', c: ClockConfig): PlcNode[] =>
    Array.from({ length: c.count }, (_, i) => ({
      id: `${folder}${c.type}${i + 1}`,
      folder,
      dataType: DATA_TYPE_OF[c.type],
      clock,
      value: (tick: number) => counterValue(c.type, tick),
    }));
  const special: PlcNode[] = [
    { id: 'StepUp', dataType: 'UInt32', clock: 'fast', value: stepUp },
    { id: 'AlternatingBoolean', dataType: 'Boolean', clock: 'fast', value: alternatingBoolean },
    { id: 'RandomSignedInt32', dataType: 'Int32', clock: 'fast', value: (t) => randomSignedInt32(t) },
    { id: 'RandomUnsignedInt32', dataType: 'UInt32', clock: 'fast', value: (t) => randomUnsignedInt32(t) },
  ];
  const anomalies: PlcNode[] = options.anomalies
    ? [
        { id: 'SpikeData', dataType: 'Double', clock: 'fast', value: spikeData },
        { id: 'DipData', dataType: 'Double', clock: 'fast', value: dipData },
        { id: 'PositiveTrendData', dataType: 'Double', clock: 'fast', value: positiveTrend },
        { id: 'NegativeTrendData', dataType: 'Double', clock: 'fast', value: negativeTrend },
      ]
    : [];
  return [...counters('fast', 'Fast', options.fast), ...counters('slow', 'Slow', options.slow), ...special, ...anomalies];
}

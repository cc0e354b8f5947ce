import { loadTopology } from '../topology/parse.js';
import { parentFirst, queueBounds } from '../topology/model.js';

export function validate(file?: string): number {
  const topology = loadTopology(file);
  const { maxQueuedMessages, maxQueuedBytes } = queueBounds(topology.storeAndForward);
  process.stdout.write(`topology ${topology.name}: ${topology.levels.length} levels, valid\n`);
  for (const level of parentFirst(topology)) {
    const workloads = level.workloads.map((w) => (w.name === w.type ? w.name : `${w.name} (${w.type})`)).join(', ') || 'broker relay only';
    process.stdout.write(`  ${level.name} (ISA-95 ${level.isa95})${level.parent ? ` -> ${level.parent}` : ' [top]'}: ${workloads}\n`);
  }
  process.stdout.write(`  broker queue bound: ${maxQueuedMessages} messages / ${(maxQueuedBytes / 1e6).toFixed(0)} MB per link\n`);
  return 0;
}

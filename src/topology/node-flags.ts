// V8 heap settings per workload: on node's command line in the local and netns targets
// (src/local/plan.ts), in NODE_OPTIONS on Kubernetes (src/kubernetes/render.ts). Left alone, V8
// sizes its heap for a big server: 16 MB semi-spaces (32 MB of young generation) and an old
// generation grown well past its live data before a full collection; a max-old-space-size also
// makes V8 grow the heap in smaller steps. Measured at 1,000 msg/s on this 2-core machine under a
// load average of 6-9 (single runs, so +-10 MB):
//   temperature-sensor  live heap ~10 MB; 110-139 MB resident without, 82-88 MB with
//   data-gateway        180 MB resident without, 96-110 MB with (57 MB of it is node + express)
// and later, with the node:http sidecar client instead of fetch, on an idle machine: sensors
// 56-58 MB, gateway 77 MB (bench/pipeline.ts). The caps leave the live data room: a sensor holds
// at most its maxInFlight messages (a few hundred bytes each), the gateway at most the broker's
// 100 in-flight deliveries (256 KB each at worst). Both flags are allowed in NODE_OPTIONS.
// Not --optimize-for-size: through the gateway it cut OPC UA throughput from 49,700 to 30,700
// values/s (55 KB messages). The OPC UA workloads keep V8's semi-spaces: their values live a
// publishing interval or more, so 8 to 2 MB semi-spaces promote them and cost 1.3-20x the
// scavenge time (1 MB and a tight old generation: 9,000 values/s instead of 28,700). The
// publisher gets only a ceiling just under 2 GB, far above its live heap (20 MB + 1.3 MB per
// 1,000 nodes): below 2,048 MB V8 grows the old generation by at most 2x before a full
// collection instead of 4x (at 5,000 nodes every 100 ms its peak RSS fell from 237-270 to
// 192-228 MB, CPU +1 % of a core, still keeping up); the ceiling holds its full queue of 10,000
// network messages (660 MB at 500 values each). opc-plc keeps V8's defaults: with the same
// ceiling, saturated (100,000 values/s offered), one pair of runs delivered 70-76,000 values/s
// instead of 81-85,000 (not settled: the machine was loaded). Its floor is node-opcua's server
// with the standard nodeset, about 40 MB of live heap before any PLC node (+4.1 KB per node).
import type { WorkloadType } from './model.js';

export const WORKLOAD_NODE_FLAGS: Record<WorkloadType, readonly string[]> = {
  'temperature-sensor': ['--max-semi-space-size=1', '--max-old-space-size=48'],
  'data-gateway': ['--max-semi-space-size=4', '--max-old-space-size=128'],
  'opc-plc': [],
  'opc-publisher': ['--max-old-space-size=2047'],
};

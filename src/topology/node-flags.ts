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
// values/s (55 KB messages), nor any of this on the OPC UA workloads: at 5,000 nodes, 1 MB
// semi-spaces and a tight old generation on opc-plc and opc-publisher gave 9,000 values/s
// instead of 28,700 (measured back to back).
import type { WorkloadType } from './model.js';

export const WORKLOAD_NODE_FLAGS: Record<WorkloadType, readonly string[]> = {
  'temperature-sensor': ['--max-semi-space-size=1', '--max-old-space-size=48'],
  'data-gateway': ['--max-semi-space-size=4', '--max-old-space-size=128'],
  'opc-plc': [],
  'opc-publisher': [],
};

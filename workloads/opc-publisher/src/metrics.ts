// The opc-publisher's own instruments, beside the producer counters every publisher has
// (shared/src/publisher.ts). Names are read by `edge status`.
import type { EdgeMeter } from '../../shared/src/telemetry.js';
import type { EndpointEvents } from './endpoint.js';
import type { NetworkMessage } from './networkmessage.js';

/** Values in a network message: one per field of each DataSetMessage's payload. */
export function valuesIn(message: NetworkMessage): number {
  return message.Messages.reduce((n, dsm) => n + Object.keys(dsm.Payload).length, 0);
}

export interface OpcuaMetrics {
  /** Records the size of a batch about to be published. */
  batchPublished(message: NetworkMessage): void;
  endpointEvents: EndpointEvents;
}

export function opcuaMetrics(meter: EdgeMeter): OpcuaMetrics {
  const batchSize = meter.createHistogram('edge.publish.batch_size', {
    description: 'OPC UA values per published network message',
    unit: '{value}',
    advice: { explicitBucketBoundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000] },
  });
  const sessionState = meter.createGauge('edge.opcua.session.state', { description: 'OPC UA session per endpoint: 1 connected, 0 not', unit: '1' });
  const reconnects = meter.createCounter('edge.opcua.reconnects', { description: 'Times the OPC UA client started reconnecting after losing an endpoint', unit: '{reconnect}' });
  return {
    batchPublished: (message) => batchSize.record(valuesIn(message)),
    endpointEvents: {
      sessionState: (endpoint, connected) => sessionState.record(connected ? 1 : 0, { 'opcua.endpoint': endpoint }),
      reconnecting: (endpoint) => reconnects.add(1, { 'opcua.endpoint': endpoint }),
    },
  };
}

// How the local target plans the data gateway's stores (pure, no process): what goes into the
// gateway's environment, its 0600 secrets file and its Dapr resources, and the clear refusals;
// and the accounting's per-source order check that the summary reports for every store.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planGatewayStores } from '../src/local/gateway-stores.js';
import { SinkAccounting } from '../src/local/summary.js';
import type { Workload } from '../src/topology/model.js';

const gateway = (config: Workload['config']): Workload => ({ name: 'data-gateway', type: 'data-gateway', config });
const input = (env: Record<string, string>, extra: { isolated?: boolean; hostEnv?: NodeJS.ProcessEnv } = {}) => ({ workload: gateway({}), wdir: '/data/l4/data-gateway', env, appId: 'data-gateway', isolated: extra.isolated ?? false, hostEnv: extra.hostEnv ?? {} });

test('file only: nothing to start, nothing secret', () => {
  const out = planGatewayStores(input({}), 'edge-secrets');
  assert.equal(out.stores.sinks, ['file']);
  assert.is(out.stores.postgres, undefined);
  assert.equal([out.env, out.secrets, out.components], [{}, {}, []]);
});

test('postgresql: the runner starts the server; the gateway gets only the path of its 0600 URL file', () => {
  const out = planGatewayStores(input({ GATEWAY_SINKS: 'file,postgresql', GATEWAY_PG_TABLE: 'plant_telemetry' }), 'edge-secrets');
  assert.equal(out.stores.postgres, { urlFile: '/data/l4/data-gateway/secrets/postgres-url', table: 'plant_telemetry' });
  assert.equal(out.env, { GATEWAY_PG_URL_FILE: '/data/l4/data-gateway/secrets/postgres-url' });
  assert.equal(out.secrets, {});
  assert.throws(() => planGatewayStores(input({ GATEWAY_SINKS: 'postgresql' }, { isolated: true }), 'edge-secrets'), /postgresql sink runs on the local target only .* use sinks: file for --target netns/);
  assert.throws(() => planGatewayStores(input({ GATEWAY_SINKS: 'postgresql', GATEWAY_PG_TABLE: 'x; drop' }), 'edge-secrets'), /pgTable must be a lower-case SQL identifier/);
  assert.throws(() => planGatewayStores(input({ GATEWAY_SINKS: 'file', GATEWAY_ROUTES: 'telemetry=postgresql' }), 'edge-secrets'), /sends to postgresql, which GATEWAY_SINKS does not select/);
});

test('eventhubs: refused without a connection string; with one, it goes to the secrets file and the binding refers to it', () => {
  assert.throws(() => planGatewayStores(input({ GATEWAY_SINKS: 'file,eventhubs' }), 'edge-secrets'), /set EDGE_EVENTHUBS_CONNECTION_STRING .* or choose sinks: file,postgresql/);
  const cs = 'Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=t';
  const out = planGatewayStores(input({ GATEWAY_SINKS: 'file,eventhubs' }, { hostEnv: { EDGE_EVENTHUBS_CONNECTION_STRING: cs } }), 'edge-secrets');
  assert.equal(out.secrets, { 'eventhubs-connection-string': cs });
  assert.equal(out.env, {});
  assert.equal(out.components.map((c) => `${c.kind}/${(c.metadata as { name: string }).name}`), ['Component/eventhubs', 'Resiliency/data-gateway-sinks-resiliency']);
  assert.not.ok(JSON.stringify(out.components).includes(cs), 'the components (a non-secret file) only name the secret');
  assert.equal((out.components[0] as { auth: unknown }).auth, { secretStore: 'edge-secrets' });
});

test('accounting: a record stored after a later seq of its run is counted out of order', () => {
  const acct = new SinkAccounting(undefined, () => [{ source: 's', level: 'l2', epoch: 1, acknowledged: 4 }]);
  for (const seq of [1, 3, 2, 4]) acct.record({ id: `s:1:${seq}`, source: 's', level: 'l2', epoch: 1, seq, timestamp: 't', receivedAt: 'r', type: 'x', data: {} });
  const s = acct.summary();
  assert.equal({ delivered: s.delivered, lost: s.lost, out_of_order: s.out_of_order }, { delivered: 4, lost: 0, out_of_order: 1 });
});

test.run();

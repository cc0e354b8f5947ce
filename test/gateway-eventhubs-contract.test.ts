// CONTRACT TEST for the Event Hubs path (Azure is unreachable here): (1) the rendered Dapr
// component is what we mean, and the real daprd built by this project loads it; (2) the exact
// calls the gateway makes to its sidecar, recorded by a FAKE Dapr HTTP endpoint standing in for
// the sidecar: one `create` per message, partitionKey = source, per-source order, the envelope
// as a JSON object (written once, no double encoding), retried batches not re-sending.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, startProcess, waitFor } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { eventHubsBinding, gatewaySinkResiliency, localFileSecretStore, toYaml } from '../src/config/dapr.js';
import { Sequencer } from '../workloads/shared/src/envelope.js';
import type { Logger } from '../workloads/shared/src/log.js';
import { SinkBatcher } from '../workloads/data-gateway/src/batcher.js';
import { bindingRequest, EventHubsSink } from '../workloads/data-gateway/src/eventhubs-sink.js';
import { Router, SinkSet } from '../workloads/data-gateway/src/router.js';
import { withCleanup } from './helpers.js';

const log: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test('contract: the Event Hubs binding component takes its connection string from a secret, and the real daprd loads it', async () => {
  const component = eventHubsBinding({ componentName: 'eventhubs', appId: 'data-gateway', connectionStringSecret: { name: 'eventhubs', key: 'connectionString' }, secretStore: 'edge-secrets' });
  assert.equal(component, {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'eventhubs' },
    spec: {
      type: 'bindings.azure.eventhubs',
      version: 'v1',
      metadata: [
        { name: 'connectionString', secretKeyRef: { name: 'eventhubs', key: 'connectionString' } },
        { name: 'direction', value: 'output' },
      ],
    },
    auth: { secretStore: 'edge-secrets' },
    scopes: ['data-gateway'],
  });
  const k8s = eventHubsBinding({ componentName: 'eventhubs', appId: 'data-gateway', connectionStringSecret: { name: 'eventhubs-cs', key: 'cs' }, eventHub: 'telemetry', namespace: 'edge-l4' });
  assert.not.ok('auth' in k8s, 'Kubernetes: secrets come from the namespace, no secret store named');
  assert.equal((k8s.metadata as { namespace: string }).namespace, 'edge-l4');
  assert.ok(JSON.stringify(k8s).includes('{"name":"eventHub","value":"telemetry"}'));

  await withCleanup(async (c) => {
    const dir = c.dir('gw-eh');
    const secrets = join(dir, 'secrets.json');
    // A syntactically valid, fake connection string: the binding connects on first use only.
    // The local file secret store flattens nested keys, so the secret is one flat entry.
    writeFileSync(secrets, JSON.stringify({ 'eventhubs-connection-string': 'Endpoint=sb://edge-contract.invalid/;SharedAccessKeyName=send;SharedAccessKey=ZmFrZQ==;EntityPath=telemetry' }), { mode: 0o600 });
    const local = eventHubsBinding({ componentName: 'eventhubs', appId: 'data-gateway', connectionStringSecret: { name: 'eventhubs-connection-string', key: 'eventhubs-connection-string' }, secretStore: 'edge-secrets' });
    mkdirSync(join(dir, 'components'));
    writeFileSync(join(dir, 'components', 'components.yaml'), toYaml([localFileSecretStore('edge-secrets', secrets, 'data-gateway'), local, gatewaySinkResiliency('data-gateway', ['eventhubs'])]));
    const [http, grpc, internal, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const daprd = c.track(startProcess({
      name: 'daprd',
      command: toolPath('daprd'),
      args: ['--app-id', 'data-gateway', '--mode', 'standalone', '--resources-path', join(dir, 'components'), '--dapr-listen-addresses', '127.0.0.1', '--dapr-http-port', String(http), '--dapr-grpc-port', String(grpc), '--dapr-internal-grpc-port', String(internal), '--metrics-port', String(metrics), '--log-level', 'info'],
      logFile: join(dir, 'daprd.log'),
    }));
    const exited = daprd.exited.then((code) => {
      throw new Error(`daprd exited (${code}): ${readFileSync(join(dir, 'daprd.log'), 'utf8').split('\n').filter((l) => /level=(error|fatal)/.test(l)).join('\n')}`);
    });
    await Promise.race([waitFor('daprd healthy with the Event Hubs binding', async () => (await fetch(`http://127.0.0.1:${http}/v1.0/healthz`)).status === 204, 60_000, 250), exited]);
    exited.catch(() => undefined);
    const meta = (await (await fetch(`http://127.0.0.1:${http}/v1.0/metadata`)).json()) as { components: Array<{ name: string; type: string }> };
    assert.ok(meta.components.some((x) => x.name === 'eventhubs' && x.type === 'bindings.azure.eventhubs'), JSON.stringify(meta.components));
  });
});

interface Call {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

test('contract: the gateway sends each message once to the binding, partitionKey = source, per-source order, envelope as a JSON object', async () => {
  await withCleanup(async (c) => {
    const calls: Call[] = [];
    let failNext = 1; // the sidecar answers one 500 (Azure throttled): the batch is retried
    const fake = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        calls.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body });
        const parsed = JSON.parse(body) as { data: { source: string; seq: number } };
        if (failNext > 0 && parsed.data.source === 'sensor-b' && parsed.data.seq === 2) {
          failNext -= 1;
          res.statusCode = 500;
          res.end(JSON.stringify({ errorCode: 'ERR_INVOKE_OUTPUT_BINDING', message: 'server busy' }));
          return;
        }
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    c.add(() => new Promise((r) => fake.close(r)));
    const port = (fake.address() as AddressInfo).port;

    const sink = new EventHubsSink({ daprHost: '127.0.0.1', daprHttpPort: port, bindingName: 'eventhubs' });
    const batcher = new SinkBatcher(sink, { maxBatch: 10, maxWaitMs: 5, retryInitialMs: 10, retryMaxMs: 50, holdAlarmMs: 10_000 }, log);
    const router = new Router(new SinkSet([batcher]), async () => undefined, { resequenceHoldMs: 100 });
    const a = new Sequencer('sensor-a', 'l2', 100);
    const b = new Sequencer('sensor-b', 'l2', 200);
    const msgs = [a.next('t', { v: 1 }), b.next('t', { v: 1 }), a.next('t', { v: 2 }), b.next('t', { v: 2 }), a.next('t', { v: 3 }), b.next('t', { v: 3 })];
    // Delivered shuffled, as Dapr's mqtt3 does, and one duplicate.
    const outcomes = await Promise.all([msgs[2], msgs[1], msgs[0], msgs[5], msgs[3], msgs[4], msgs[0]].map((m) => router.handle(m)));
    assert.equal(outcomes.filter((o) => o.kind === 'stored').length, 6);
    await batcher.close();

    for (const call of calls) {
      assert.is(call.method, 'POST');
      assert.is(call.url, '/v1.0/bindings/eventhubs');
      assert.is(call.contentType, 'application/json');
    }
    const bodies = calls.map((x) => JSON.parse(x.body) as { operation: string; data: unknown; metadata: Record<string, string> });
    for (const [i, body] of bodies.entries()) {
      assert.is(body.operation, 'create');
      assert.is(typeof body.data, 'object', 'the envelope is a JSON object: daprd marshals it once (a string would arrive double-encoded)');
      assert.equal(Object.keys(body).sort(), ['data', 'metadata', 'operation']);
      assert.equal(body.metadata, { partitionKey: (body.data as { source: string }).source, contentType: 'application/json' }, `call ${i}`);
    }
    const sent = (source: string) => bodies.filter((x) => (x.data as { source: string }).source === source).map((x) => (x.data as { seq: number }).seq);
    assert.equal(sent('sensor-a'), [1, 2, 3], 'sensor-a: once each, in order');
    assert.equal(sent('sensor-b'), [1, 2, 2, 3], 'sensor-b: seq 2 retried after the 500, seq 1 not re-sent, order kept');
    // The event body daprd will send is exactly the stored record: id, source, seq, data as objects.
    const first = bodies.find((x) => (x.data as { id: string }).id === msgs[0]!.id)!;
    assert.equal({ ...(first.data as Record<string, unknown>), receivedAt: undefined }, { ...msgs[0], receivedAt: undefined });
    assert.equal(JSON.parse(JSON.stringify(bindingRequest({ daprHost: 'h', daprHttpPort: 1, bindingName: 'eh' }, { ...msgs[0]!, receivedAt: 'r' }).body.data)).data, { v: 1 });
    assert.is(sink.sent, 6);
  });
});

test.run();

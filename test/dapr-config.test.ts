import { test } from 'uvu';
import * as assert from 'uvu/assert';
import yaml from 'js-yaml';
import { brokerUrl, daprConfiguration, localFileSecretStore, pubsubComponent, resiliencyPolicy, toYaml } from '../src/config/dapr.js';

test('pubsub.mqtt3 has a stable consumerID, QoS 1, a persistent session, and its URL from a secret', () => {
  const c = pubsubComponent({ componentName: 'pubsub', appId: 'temperature-sensor', urlSecret: { name: 'broker-url', key: 'url' }, secretStore: 'edge-secrets' }) as any;
  const meta = Object.fromEntries((c.spec.metadata as Array<{ name: string; value?: string; secretKeyRef?: unknown }>).map((m) => [m.name, m.value ?? m.secretKeyRef]));
  assert.is(c.spec.type, 'pubsub.mqtt3');
  assert.is(meta.consumerID, 'temperature-sensor');
  assert.not.match(String(meta.consumerID), /\{(podName|uuid)\}/);
  assert.is(meta.qos, '1');
  assert.is(meta.cleanSession, 'false');
  assert.equal(meta.url, { name: 'broker-url', key: 'url' });
  assert.equal(c.scopes, ['temperature-sensor']);
  assert.equal(c.auth, { secretStore: 'edge-secrets' });
});

test('on Kubernetes the component names no secret store (Kubernetes Secrets are the default)', () => {
  const c = pubsubComponent({ componentName: 'pubsub', appId: 'gw', urlSecret: { name: 's', key: 'k' }, namespace: 'edge-l4' }) as any;
  assert.is(c.auth, undefined);
  assert.is(c.metadata.namespace, 'edge-l4');
});

test('the rendered stream parses back to the same resources and holds no password', () => {
  const resources = [localFileSecretStore('edge-secrets', '/x/secrets.json', 'a'), pubsubComponent({ componentName: 'pubsub', appId: 'a', urlSecret: { name: 'u', key: 'u' }, secretStore: 'edge-secrets' }), resiliencyPolicy('pubsub', 'a')];
  const text = toYaml(resources);
  assert.equal(yaml.loadAll(text), resources);
  const url = brokerUrl({ username: 'a', password: 'p@ss/word' }, '127.0.0.1', 1883);
  assert.is(url, 'tcp://a:p%40ss%2Fword@127.0.0.1:1883');
  assert.not.ok(text.includes('p@ss'));
});

test('the Dapr Configuration turns on W3C tracing (to an OTLP/gRPC collector when given) and metrics', () => {
  const withCollector = daprConfiguration('edge-tracing', { samplingRate: '1', otlpEndpoint: '127.0.0.1:4317' }) as any;
  assert.is(withCollector.kind, 'Configuration');
  assert.equal(withCollector.spec.tracing, { samplingRate: '1', otel: { endpointAddress: '127.0.0.1:4317', isSecure: false, protocol: 'grpc' } });
  assert.equal(withCollector.spec.metric, { enabled: true });
  const bare = daprConfiguration('c') as any;
  assert.equal(bare.spec.tracing, { samplingRate: '1' }, 'no exporter without a collector');
  assert.equal(yaml.load(toYaml([withCollector])), withCollector);
});

test.run();

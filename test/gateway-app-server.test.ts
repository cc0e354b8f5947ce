// The gateway's app server leaves closing an idle connection to its sidecar. With Node's default
// (the server closes after 5 s idle) a request the sidecar sends on a pooled connection just as
// the server closes it gets a reset; daprd 1.16's mqtt3 component then leaves that message
// unacknowledged until it reconnects to the broker (seen: three messages stuck at once at 5,000
// OPC UA nodes, daprd logging "connection reset by peer" for each). Here a client in another
// process, with one pooled keep-alive connection as daprd has, sends a second request after 6 s
// idle: it must go over the same connection.
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from '../src/common/proc.js';
import { DaprApp, DaprPubSubStatus, decodeBody } from '../workloads/data-gateway/src/dapr-app.js';

/** Two deliveries over one keep-alive connection, `gapMs` apart; prints each status and local port. */
const CLIENT = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const post = () => new Promise((resolve) => {
  const req = http.request({ host: '127.0.0.1', port: Number(process.argv[1]), method: 'POST', path: '/pubsub--telemetry--default', agent, headers: { 'content-type': 'application/json' } }, (res) => {
    res.resume();
    res.on('end', () => resolve({ status: res.statusCode, port: req.socket.localPort }));
  });
  req.on('error', (err) => resolve({ error: err.code }));
  req.end(JSON.stringify({ data: 'x' }));
});
(async () => {
  const first = await post();
  await new Promise((r) => setTimeout(r, Number(process.argv[2])));
  const second = await post();
  process.stdout.write(JSON.stringify([first, second]));
})();
`;

test('an idle connection from the sidecar stays open past the 5 s keep-alive default of Node', async () => {
  const port = await freePort();
  const app = new DaprApp({ appHost: '127.0.0.1', appPort: port, daprHost: '127.0.0.1', daprHttpPort: 1, maxBodySizeMb: 1 });
  let delivered = 0;
  await app.subscribe('pubsub', 'telemetry', async () => (delivered++, DaprPubSubStatus.SUCCESS), { rawPayload: true });
  await app.listen();
  try {
    const client = spawn(process.execPath, ['-e', CLIENT, String(port), '6000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    client.stdout.on('data', (d: Buffer) => (out += d));
    await new Promise<void>((resolve) => client.on('exit', () => resolve()));
    const [first, second] = JSON.parse(out) as Array<{ status?: number; port?: number }>;
    assert.is(first?.status, 200);
    assert.is(second?.status, 200);
    assert.is(second?.port, first?.port, 'the second delivery reused the idle connection: the server did not close it');
    assert.is(delivered, 2);
  } finally {
    await app.stop();
  }
});

/** A DaprApp listening on a free port with one `telemetry` subscription served by `handler`. */
async function appWith(handler: (data: unknown) => Promise<string>, maxBodySizeMb = 1): Promise<{ app: DaprApp; url: string }> {
  const port = await freePort();
  const app = new DaprApp({ appHost: '127.0.0.1', appPort: port, daprHost: '127.0.0.1', daprHttpPort: 1, maxBodySizeMb });
  await app.subscribe('pubsub', 'telemetry', handler as (data: unknown) => Promise<typeof DaprPubSubStatus.SUCCESS>, { rawPayload: true });
  await app.listen();
  return { app, url: `http://127.0.0.1:${port}` };
}

const cloudEvent = (payload: string): string => JSON.stringify({ specversion: '1.0', type: 'com.dapr.event.sent', data_base64: Buffer.from(payload).toString('base64') });

test('Dapr reads the subscription list the SDK generates: topic, route and metadata as strings', async () => {
  const { app, url } = await appWith(async () => DaprPubSubStatus.SUCCESS);
  try {
    const res = await fetch(`${url}/dapr/subscribe`);
    assert.is(res.status, 200);
    assert.equal(await res.json(), [{ pubsubname: 'pubsub', topic: 'telemetry', metadata: { rawPayload: 'true' }, route: '/pubsub--telemetry--default' }]);
  } finally {
    await app.stop();
  }
});

test('a delivery reaches the handler as the SDK decodes it (raw payload: JSON parsed, text as text) and gets its status back', async () => {
  const seen: unknown[] = [];
  const { app, url } = await appWith(async (data) => (seen.push(data), seen.length === 2 ? DaprPubSubStatus.RETRY : DaprPubSubStatus.SUCCESS));
  try {
    const post = (body: string) => fetch(`${url}/pubsub--telemetry--default`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body }).then(async (r) => [r.status, await r.json()]);
    assert.equal(await post(cloudEvent('{"seq":1}')), [200, { status: 'SUCCESS' }]);
    assert.equal(await post(cloudEvent('not json')), [200, { status: 'RETRY' }]);
    assert.equal(seen, [{ seq: 1 }, 'not json']);
    const unknown = await fetch(`${url}/pubsub--other--default`, { method: 'POST', body: '{}' });
    assert.is(unknown.status, 404);
    const broken = await fetch(`${url}/pubsub--telemetry--default`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cut' });
    assert.is(broken.status, 400, 'a body that is not the JSON its type says is refused, not handed on');
    assert.is(seen.length, 2);
  } finally {
    await app.stop();
  }
});

test('a body over the limit is refused with 413 and never reaches the handler', async () => {
  let calls = 0;
  const { app, url } = await appWith(async () => (calls++, DaprPubSubStatus.SUCCESS), 1);
  try {
    const res = await fetch(`${url}/pubsub--telemetry--default`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: cloudEvent('x'.repeat(1_100_000)) });
    assert.is(res.status, 413);
    assert.is(calls, 0);
  } finally {
    await app.stop();
  }
});

test('decodeBody follows the content type: JSON types parsed, octet-stream as bytes, anything else as text', () => {
  assert.equal(decodeBody(Buffer.from('{"a":1}'), 'application/json; charset=utf-8'), { a: 1 });
  assert.equal(decodeBody(Buffer.from('[1]'), 'application/cloudevents+json'), [1]);
  assert.equal(decodeBody(Buffer.alloc(0), 'application/json'), {});
  assert.ok(Buffer.isBuffer(decodeBody(Buffer.from('ab'), 'application/octet-stream')));
  assert.is(decodeBody(Buffer.from('plain'), 'text/plain'), 'plain');
  assert.is(decodeBody(Buffer.from('plain'), undefined), 'plain');
});

test('stop() lets a delivery in progress answer, and closes one that is held past the grace period', async () => {
  let release: (() => void) | undefined;
  let calls = 0;
  const { app, url } = await appWith(() => {
    calls++;
    // The first delivery finishes during stop(); the second is held (a store down) and never answers.
    return calls === 1 ? new Promise((r) => (release = () => r(DaprPubSubStatus.SUCCESS))) : new Promise(() => undefined);
  });
  const post = () => fetch(`${url}/pubsub--telemetry--default`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: cloudEvent('{}') }).then((r) => r.status, (e: Error) => e.name);
  const first = post();
  const second = post();
  while (calls < 2) await new Promise((r) => setTimeout(r, 10));
  const started = Date.now();
  const stopped = app.stop();
  setTimeout(() => release!(), 100);
  assert.is(await first, 200, 'answered while stopping');
  await stopped;
  assert.is(await second, 'TypeError', 'the held delivery gets no answer: its connection is closed, so the sidecar redelivers it');
  assert.ok(Date.now() - started < 3_000, `stopped in ${Date.now() - started} ms`);
});

test.run();

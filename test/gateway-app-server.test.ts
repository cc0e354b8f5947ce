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
import { DaprApp, DaprPubSubStatus } from '../workloads/data-gateway/src/dapr-app.js';

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

test.run();

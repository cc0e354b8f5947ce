// The netns target on real namespaces: one per level plus `internet`, real Squids chained upward,
// and agents that connect from inside a namespace. Needs root and `ip netns`; every test brings up
// its own namespaces and tears them down, also when it fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { NsAgent } from '../src/netns/agent-client.js';
import {
  addRoute,
  bringUp,
  cutLink,
  INTERNET,
  ipForwarding,
  linkIsUp,
  listNamespaces,
  netnsUnavailable,
  newRunId,
  nodeOf,
  planNetwork,
  restoreLink,
  routesOf,
  sweepLeftovers,
  tearDown,
  type NetnsNetworkPlan,
} from '../src/netns/net.js';
import { accessLogOf, planProxies, startProxies, stopProxies } from '../src/netns/proxies.js';
import { loadTopology } from '../src/topology/parse.js';
import { egressOf, levelByName, proxyPortOf } from '../src/topology/model.js';
import { ensureCredentials } from '../src/config/credentials.js';
import { waitFor } from '../src/common/proc.js';
import { FORBIDDEN_EXAMPLE, NetnsEdge } from '../src/netns/edge.js';
import { brokerPkiLayout, ensureBrokerPki, pkiDirOf } from '../src/pki/broker-pki.js';
import { Cleanup, netnsLeftByThisProcess } from './helpers.js';

const ALLOWED = 'allowed.example.test';
const FORBIDDEN = 'forbidden.example.test';
const PROBE_PORT = 9000;
const unavailable = await netnsUnavailable();
const it = unavailable ? test.skip : test;
if (unavailable) console.log(`netns-isolation: skipped: ${unavailable}`);

/** Brings up the default topology's namespaces with agents in each; all undone by `c.run()`. */
async function network(c: Cleanup, agentsIn: string[]): Promise<{ plan: NetnsNetworkPlan; agents: Record<string, NsAgent>; dir: string }> {
  const dir = c.dir('netns');
  const plan = planNetwork(loadTopology(), newRunId(), [ALLOWED, FORBIDDEN]);
  c.add(() => tearDown(plan));
  await bringUp(plan);
  const agents: Record<string, NsAgent> = {};
  await Promise.all(
    agentsIn.map(async (name) => {
      const agent = await NsAgent.start(nodeOf(plan, name).ns, join(dir, `agent-${name}.log`));
      c.add(() => agent.stop());
      agents[name] = agent;
    }),
  );
  return { plan, agents, dir };
}

function assertGone(plan: NetnsNetworkPlan, namespaces: string[]): void {
  for (const node of Object.values(plan.nodes)) {
    assert.not.ok(namespaces.includes(node.ns), `namespace ${node.ns} removed`);
    assert.not.ok(existsSync(join('/etc/netns', node.ns)), `/etc/netns/${node.ns} removed`);
  }
}

it('bring-up and teardown are idempotent and leave nothing; a stale run is swept, a live one kept', async () => {
  const c = new Cleanup();
  const plan = planNetwork(loadTopology(), newRunId(), [ALLOWED, FORBIDDEN]);
  // A leftover of a run whose process is gone (a pid that just exited).
  const dead = spawnSync('true').pid!;
  const stale = planNetwork(loadTopology(), `${dead}-zzzz`, [ALLOWED]);
  try {
    c.add(() => tearDown(plan));
    c.add(() => tearDown(stale));
    await bringUp(plan);
    await bringUp(plan);
    await bringUp(stale);
    const names = await listNamespaces();
    for (const node of Object.values(plan.nodes)) assert.ok(names.includes(node.ns), `${node.ns} exists`);
    assert.equal(await routesOf(plan, 'l2'), ['10.77.0.8/30 dev up0 proto kernel scope link src 10.77.0.10'], 'l2 has one route: its link to l3');
    for (const node of Object.keys(plan.nodes)) assert.is(await ipForwarding(plan, node), 0, `${node} does not forward`);

    const swept = await sweepLeftovers();
    // (A concurrent test process may have swept the stale run first: what counts is that it is gone.)
    for (const node of Object.values(plan.nodes)) assert.not.ok(swept.includes(node.ns), `live ${node.ns} kept`);
    assertGone(stale, await listNamespaces());
    assert.ok((await listNamespaces()).includes(nodeOf(plan, 'l2').ns), 'the live run is kept');

    await tearDown(plan);
    await tearDown(plan);
    assertGone(plan, await listNamespaces());
  } finally {
    await c.run();
  }
});

it('from l2: l3 (its parent) is reachable; l4, its proxy and the internet are not, even with a forced route', async () => {
  const c = new Cleanup();
  try {
    const { plan, agents } = await network(c, ['l2', 'l3', 'l4', INTERNET]);
    const l4 = nodeOf(plan, 'l4');
    const l3 = nodeOf(plan, 'l3');
    const internet = nodeOf(plan, INTERNET);
    for (const name of ['l3', 'l4', INTERNET]) assert.ok((await agents[name]!.serveTcp('0.0.0.0', PROBE_PORT)).ok, `probe server in ${name}`);
    // The squid port of l4 (nothing else can listen there in l4's namespace in this test).
    assert.ok((await agents.l4!.serveTcp('0.0.0.0', 3128)).ok);
    assert.ok((await agents[INTERNET]!.serveTcp('0.0.0.0', 80)).ok);
    const l2 = agents.l2!;

    assert.ok((await l2.tcp(nodeOf(plan, 'l2').parentAddress!, PROBE_PORT)).ok, 'l2 reaches l3 on their link');
    assert.ok((await agents.l3!.tcp(l3.parentAddress!, PROBE_PORT)).ok, 'l3 reaches l4 on their link');
    assert.ok((await agents.l4!.tcp(l4.parentAddress!, 80)).ok, 'l4 reaches the internet');
    assert.equal((await l2.lookup(ALLOWED)).address, internet.addresses[0], 'names resolve inside the namespace');

    const targets: Array<[string, string, number]> = [
      ['l4 (its address on the l3 link)', l4.addresses[1] ?? l4.addresses[0]!, PROBE_PORT],
      ['l4 (its address on the internet link)', l4.uplinkAddress!, PROBE_PORT],
      ['the l4 proxy', l4.uplinkAddress!, 3128],
      ["l3's far side", l3.uplinkAddress!, PROBE_PORT],
      ['the internet', internet.addresses[0]!, 80],
      ['the internet by name', ALLOWED, 80],
    ];
    for (const [what, host, port] of targets) {
      const r = await l2.tcp(host, port, 1_500);
      assert.not.ok(r.ok, `${what} (${host}:${port}) must be unreachable from l2`);
      assert.ok(r.ms < 2_500, `${what}: fails fast (${r.ms} ms)`);
    }
    // Even a route l2 adds itself ends at l3, which does not forward: l4 and the internet stay
    // out of reach (l3's other address answers then, but that is l3 itself, l2's parent).
    await addRoute(plan, 'l2', '10.77.0.0/16', nodeOf(plan, 'l2').parentAddress!);
    const forced = targets.filter(([what]) => !what.startsWith('l3') && !what.endsWith('by name'));
    const results = await Promise.all(forced.map(([, host, port]) => l2.tcp(host, port, 1_500)));
    forced.forEach(([what, host, port], i) => assert.not.ok(results[i]!.ok, `${what} (${host}:${port}) unreachable from l2 with a forced route via l3 (${results[i]!.error})`));
    console.log(`  with a forced route via l3: ${results.map((r) => r.error).join(', ')}`);
  } finally {
    await c.run();
  }
});

it('proxy chain from l2: allowed answers through l3 and l4, forbidden and other ports get 403, outsiders get 403', async () => {
  const c = new Cleanup();
  try {
    const { plan, agents, dir } = await network(c, ['l2', 'l3', INTERNET]);
    const internet = agents[INTERNET]!;
    assert.ok((await internet.serveHttp('0.0.0.0', 80)).ok);
    assert.ok((await internet.serveTcp('0.0.0.0', 443)).ok);
    assert.ok((await internet.serveTcp('0.0.0.0', 8443)).ok);
    const proxies = planProxies(loadTopology(), plan, dir, [ALLOWED]);
    const started = Date.now();
    const running = await startProxies(proxies);
    c.add(() => stopProxies(running));
    console.log(`  squid chain up in ${Date.now() - started} ms`);
    const l2 = agents.l2!;
    const [l4proxy, l3proxy, l2proxy] = proxies;

    const get = await l2.httpViaProxy('127.0.0.1', 3128, `http://${ALLOWED}/telemetry`);
    assert.is(get.status, 200, `GET allowed via l2's squid: ${get.error ?? get.status}`);
    assert.match(get.body ?? '', `edge-internet-stand-in host=${ALLOWED}`);
    const tunnel = await l2.connectViaProxy('127.0.0.1', 3128, `${ALLOWED}:443`);
    assert.is(tunnel.status, 200, 'CONNECT allowed:443 established');
    assert.is(tunnel.body, 'edge-internet-stand-in port=443', `the tunnel reaches the target: ${JSON.stringify(tunnel.body)}`);

    assert.is((await l2.httpViaProxy('127.0.0.1', 3128, `http://${FORBIDDEN}/`)).status, 403, 'GET forbidden is denied');
    assert.is((await l2.connectViaProxy('127.0.0.1', 3128, `${FORBIDDEN}:443`)).status, 403, 'CONNECT forbidden is denied');
    assert.is((await l2.connectViaProxy('127.0.0.1', 3128, `${ALLOWED}:8443`)).status, 403, 'CONNECT to a port not allowed is denied');

    // The allowed requests went hop by hop: l2 -> l3's squid -> l4's squid -> direct.
    const line = (lines: string[], what: string): string => lines.find((l) => l.includes(what)) ?? '';
    assert.match(line(accessLogOf(l2proxy!), `GET http://${ALLOWED}/telemetry`), `FIRSTUP_PARENT/${nodeOf(plan, 'l2').parentAddress}`);
    assert.match(line(accessLogOf(l3proxy!), `GET http://${ALLOWED}/telemetry`), `FIRSTUP_PARENT/${nodeOf(plan, 'l3').parentAddress}`);
    assert.match(line(accessLogOf(l4proxy!), `GET http://${ALLOWED}/telemetry`), `HIER_DIRECT/${nodeOf(plan, INTERNET).addresses[0]}`);
    assert.match(line(accessLogOf(l4proxy!), `CONNECT ${ALLOWED}:443`), 'TCP_TUNNEL/200');
    assert.not.ok(accessLogOf(l4proxy!).some((l) => l.includes(FORBIDDEN)), 'forbidden never left l2');

    // The top enforces the allow-list itself, for its child too (l3 is a client of l4's squid).
    assert.is((await agents.l3!.httpViaProxy(nodeOf(plan, 'l3').parentAddress!, 3128, `http://${FORBIDDEN}/`)).status, 403, 'l4 denies forbidden to l3');
    // Not an open proxy: the internet reaches l4's squid but is not in its client list.
    const outsider = await internet.httpViaProxy(nodeOf(plan, 'l4').uplinkAddress!, 3128, `http://${ALLOWED}/`);
    assert.is(outsider.status, 403, 'a client outside the ACL is refused');
    // Nor does a lower squid serve its parent: l2's squid serves l2 alone.
    assert.is((await agents.l3!.httpViaProxy(nodeOf(plan, 'l2').uplinkAddress!, 3128, `http://${ALLOWED}/`)).status, 403, "l2's squid refuses its parent as a client");
  } finally {
    await c.run();
  }
});

it('a cut l2-l3 link makes l3 unreachable from l2; restoring it brings l3 back', async () => {
  const c = new Cleanup();
  try {
    const { plan, agents } = await network(c, ['l2', 'l3']);
    assert.ok((await agents.l3!.serveTcp('0.0.0.0', PROBE_PORT)).ok);
    const l3 = nodeOf(plan, 'l2').parentAddress!;
    assert.ok((await agents.l2!.tcp(l3, PROBE_PORT)).ok, 'reachable before the cut');
    await cutLink(plan, 'l2', 'l3');
    assert.not.ok(await linkIsUp(plan, 'l2', 'l3'));
    const cut = await agents.l2!.tcp(l3, PROBE_PORT, 1_500);
    assert.not.ok(cut.ok, `unreachable while cut (${cut.error})`);
    assert.not.ok((await agents.l3!.tcp(nodeOf(plan, 'l2').uplinkAddress!, PROBE_PORT, 1_500)).ok, 'nor the other way');
    await restoreLink(plan, 'l2', 'l3');
    assert.ok(await linkIsUp(plan, 'l2', 'l3'));
    const back = await agents.l2!.tcp(l3, PROBE_PORT, 3_000);
    assert.ok(back.ok, `reachable again after restore (${back.error ?? 'ok'})`);
    // Cutting and restoring are idempotent.
    await restoreLink(plan, 'l2', 'l3');
    assert.ok((await agents.l2!.tcp(l3, PROBE_PORT)).ok);
  } finally {
    await c.run();
  }
});

it('the netns edge (brokers and proxies): l2 reaches l4 only through l3 over mTLS; l3 refuses no TLS, no certificate, wrong password and another CA; egress only via the proxy chain', async () => {
  const c = new Cleanup();
  try {
    // The brokers alone: the default topology without workloads.
    const base = loadTopology();
    const topology = { ...base, levels: base.levels.map((l) => ({ ...l, workloads: [] })) };
    const dir = c.dir('netns-brokers');
    const edge = await NetnsEdge.create(topology, { dataDir: dir, egress: true });
    c.add(() => edge.down());
    await edge.start();
    const creds = ensureCredentials(topology, JSON.parse(readFileSync(join(dir, 'secrets', 'credentials.json'), 'utf8')));
    const agents = edge.agents;
    const l4 = levelByName(topology, 'l4');
    const l3 = levelByName(topology, 'l3');
    const l2 = levelByName(topology, 'l2');
    const monitor = (level: string) => creds.levels[level]!.monitor;
    // The monitor user may not publish telemetry, so use the bridge credentials at the child
    // listeners and a watch at l4 to see the message arrive.
    const watch = await agents.l4!.mqttWatch(`mqtt://127.0.0.1:${l4.broker.workloadPort}`, monitor('l4').username, monitor('l4').password, 'isolation-watch', ['$SYS/broker/publish/messages/received']);
    c.add(() => watch.close());
    const pki = brokerPkiLayout(topology, pkiDirOf(dir));
    const l2Bridge = { ca: pki.trustFile, cert: pki.levels.l2!.bridge!.cert, key: pki.levels.l2!.bridge!.key };
    const bridgeUser = creds.levels.l3!.bridges.l2!;
    const l3Url = `mqtts://${nodeOf(edge.net, 'l2').parentAddress}:${l3.broker.childPort}`;
    const before = Number((await watch.latest('$SYS/broker/publish/messages/received')) ?? 0);
    const pub = await agents.l2!.mqttPublish(l3Url, bridgeUser.username, bridgeUser.password, 'telemetry/netns', 'hello', 5_000, l2Bridge);
    assert.ok(pub.ok, `l2 publishes at l3's child listener with its bridge certificate: ${pub.error ?? ''}`);
    await waitFor('the message relayed by l3 to l4', async () => Number((await watch.latest('$SYS/broker/publish/messages/received')) ?? 0) > before, 20_000, 200);

    for (const port of [l4.broker.workloadPort, l4.broker.childPort]) {
      for (const host of nodeOf(edge.net, 'l4').addresses) assert.not.ok((await agents.l2!.tcp(host, port, 1_500)).ok, `l4 broker ${host}:${port} unreachable from l2`);
    }
    assert.not.ok((await agents.l2!.tcp(nodeOf(edge.net, 'l2').parentAddress!, l3.broker.workloadPort, 1_500)).ok, "l3's workload listener is on l3's loopback only");
    // Every way in without the right certificate and password is refused.
    const other = await ensureBrokerPki(topology, join(c.dir('other-ca'), 'pki'), () => [nodeOf(edge.net, 'l2').parentAddress!]);
    const plainUrl = l3Url.replace('mqtts://', 'mqtt://');
    const attempts: Array<[string, Promise<{ ok: boolean; error?: string }>]> = [
      ['plain MQTT', agents.l2!.mqttPublish(plainUrl, bridgeUser.username, bridgeUser.password, 'telemetry', 'x', 3_000)],
      ['TLS without a client certificate', agents.l2!.mqttPublish(l3Url, bridgeUser.username, bridgeUser.password, 'telemetry', 'x', 3_000, { ca: pki.trustFile })],
      ['a certificate from another CA', agents.l2!.mqttPublish(l3Url, bridgeUser.username, bridgeUser.password, 'telemetry', 'x', 3_000, { ca: pki.trustFile, cert: other.levels.l2!.bridge!.cert, key: other.levels.l2!.bridge!.key })],
      ['no credentials', agents.l2!.mqttPublish(l3Url, '', '', 'telemetry', 'x', 3_000, l2Bridge)],
      ['a wrong password', agents.l2!.mqttPublish(l3Url, bridgeUser.username, 'wrong', 'telemetry', 'x', 3_000, l2Bridge)],
    ];
    for (const [what, attempt] of attempts) {
      const r = await attempt;
      assert.not.ok(r.ok, `${what} is refused at l3`);
    }
    // Egress from l2: only through its own proxy, up the chain, and only to the allow-list.
    const allowed = egressOf(topology).allowDomains[0]!;
    const proxyPort = proxyPortOf(l2);
    const viaChain = await agents.l2!.httpViaProxy('127.0.0.1', proxyPort, `http://${allowed}/status`);
    assert.is(viaChain.status, 200, `an allow-listed domain answers through the proxies (${viaChain.error ?? ''})`);
    assert.match(viaChain.body ?? '', `host=${allowed}`);
    assert.is((await agents.l2!.httpViaProxy('127.0.0.1', proxyPort, `http://${FORBIDDEN_EXAMPLE}/`)).status, 403, 'a forbidden domain is denied');
    assert.not.ok((await agents.l2!.httpGet(`http://${allowed}/`, 1_500)).ok, 'no direct way out of l2');
    // And at l2's own broker, from inside l2: anonymous and wrong passwords are refused too.
    assert.not.ok((await agents.l2!.mqttPublish(`mqtt://127.0.0.1:${l2.broker.workloadPort}`, '', '', 'telemetry', 'x', 3_000)).ok, 'anonymous refused at l2');
  } finally {
    await c.run();
  }
});

it('teardown after the tests: no namespace or /etc/netns dir of this process is left', async () => {
  assert.equal(await netnsLeftByThisProcess(), { namespaces: [], etcDirs: [] });
});

test.run();

// The netns target's pure parts: addressing, the per-level Squid configs (no open proxy, the chain
// only upward), and the topology's proxy/egress settings. No root needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderSquidConf, squidDomainList } from '../src/config/squid.js';
import { INTERNET, linkAddresses, planNetwork, hostsFile, nodeOf } from '../src/netns/net.js';
import { planProxies } from '../src/netns/proxies.js';
import { DEFAULT_EGRESS, egressOf, proxyPortOf } from '../src/topology/model.js';
import { loadTopology, parseTopology, TopologyError } from '../src/topology/parse.js';

const NAMES = ['allowed.example.test', 'forbidden.example.test'];

test('links: one /30 per link, only child-parent and top-internet, upper end .1', () => {
  const plan = planNetwork(loadTopology(), '1-abcd', NAMES);
  assert.equal(
    plan.links.map((l) => [l.lower, l.upper, l.cidr, l.lowerAddress, l.upperAddress]),
    [
      ['l4', INTERNET, '10.77.0.0/30', '10.77.0.2', '10.77.0.1'],
      ['l3', 'l4', '10.77.0.4/30', '10.77.0.6', '10.77.0.5'],
      ['l2', 'l3', '10.77.0.8/30', '10.77.0.10', '10.77.0.9'],
    ],
  );
  assert.equal(nodeOf(plan, 'l2').parentAddress, '10.77.0.9');
  assert.equal(nodeOf(plan, 'l3').childCidrs, ['10.77.0.8/30']);
  assert.equal(nodeOf(plan, 'l2').ns, 'edge-1-abcd-l2');
  assert.equal(linkAddresses(1), { cidr: '10.77.0.4/30', upper: '10.77.0.5', lower: '10.77.0.6' });
  assert.throws(() => linkAddresses(16384), /outside/);
  // Every namespace resolves the cloud names to the internet namespace, and nothing else to it.
  const hosts = hostsFile(plan, nodeOf(plan, 'l2'));
  assert.match(hosts, /^10\.77\.0\.1 allowed\.example\.test forbidden\.example\.test$/m);
});

function httpAccess(conf: string): string[] {
  return conf.split('\n').filter((l) => l.startsWith('http_access '));
}

test('squid allow-list: each domain once, none a wildcard entry already covers (Squid refuses to start on such a list)', () => {
  // porter.yaml's default, the Azure Arc endpoint list.
  const arc = ['management.azure.com', 'login.microsoftonline.com', '.dp.kubernetesconfiguration.azure.com', 'mcr.microsoft.com', '.data.mcr.microsoft.com', 'gbl.his.arc.azure.com', '.his.arc.azure.com', 'guestnotificationservice.azure.com', '.servicebus.windows.net'];
  assert.equal(squidDomainList(arc), arc.filter((d) => d !== 'gbl.his.arc.azure.com'));
  assert.equal(squidDomainList(['.example.com', 'example.com', 'a.b.example.com', '.b.example.com', 'example.org', 'example.org']), ['.example.com', 'example.org']);
  assert.equal(squidDomainList(['notexample.com', '.example.com']), ['notexample.com', '.example.com'], 'a suffix that is not a subdomain stays');
});

test('squid per level: denies first, one allow, deny all last, never an open proxy; chain only upward', () => {
  const t = loadTopology();
  const net = planNetwork(t, '1-abcd', NAMES);
  const plans = planProxies(t, net, '/tmp/x', ['allowed.example.test']);
  assert.equal(plans.map((p) => p.level), ['l4', 'l3', 'l2']);
  for (const p of plans) {
    const rules = httpAccess(p.conf);
    assert.not.ok(rules.includes('http_access allow all'), `${p.level}: no allow all`);
    assert.is(rules.at(-1), 'http_access deny all', `${p.level}: the last rule denies all`);
    const allows = rules.filter((r) => r.startsWith('http_access allow'));
    assert.equal(allows, ['http_access allow edge_clients'], `${p.level}: exactly one allow`);
    const allowAt = rules.indexOf(allows[0]!);
    for (const deny of ['http_access deny !edge_clients', 'http_access deny CONNECT !connect_ports', 'http_access deny !allowed_domains']) {
      assert.ok(rules.indexOf(deny) >= 0 && rules.indexOf(deny) < allowAt, `${p.level}: "${deny}" comes before the allow`);
    }
    assert.match(p.conf, /^acl connect_ports port 443$/m);
    assert.match(p.conf, /^acl allowed_domains dstdomain allowed\.example\.test$/m);
    assert.match(p.conf, /^pinger_enable off$/m);
  }
  const [l4, l3, l2] = plans;
  assert.match(l4!.conf, /^always_direct allow all$/m);
  assert.not.match(l4!.conf, /cache_peer/);
  assert.match(l4!.conf, /^acl edge_clients src 127\.0\.0\.1\/32 10\.77\.0\.4\/30$/m, 'the top serves itself and l3 only: not the internet link');
  assert.match(l3!.conf, /^cache_peer 10\.77\.0\.5 parent 3128 0 no-query no-digest default name=parent$/m);
  assert.match(l3!.conf, /^never_direct allow all$/m);
  assert.match(l2!.conf, /^cache_peer 10\.77\.0\.9 parent 3128 /m);
  assert.match(l2!.conf, /^acl edge_clients src 127\.0\.0\.1\/32$/m, 'a leaf serves only itself');
  assert.not.match(l2!.conf, /always_direct/);
});

test('the generator refuses a config that would let nothing out or anyone in', () => {
  const base = {
    levelName: 'x',
    bindAddress: '0.0.0.0',
    port: 3128,
    allowDomains: ['a.example'],
    connectPorts: [443],
    clientCidrs: ['127.0.0.1/32'],
    paths: { pidFile: '/p', accessLog: '/a', cacheLog: '/c', coredumpDir: '/d' },
  };
  assert.throws(() => renderSquidConf({ ...base, allowDomains: [] }), /allowDomains is empty/);
  assert.throws(() => renderSquidConf({ ...base, clientCidrs: [] }), /clientCidrs is empty/);
  assert.throws(() => renderSquidConf({ ...base, runtime: { shutdownLifetimeS: -1 } }), /shutdownLifetimeS/);
  // Without runtime settings the output is what the other targets always had.
  assert.not.match(renderSquidConf(base), /shutdown_lifetime|pinger_enable|visible_hostname/);
});

test('topology: proxy port and egress are optional, validated, and defaulted', () => {
  const t = loadTopology();
  assert.is(proxyPortOf(t.levels[0]!), 3128);
  assert.equal(egressOf(t), DEFAULT_EGRESS);
  const doc = (extra: string, proxy = ''): string =>
    `name: x\n${extra}levels:\n  - { name: top, ${proxy}broker: { workloadPort: 2000, childPort: 2001 }, workloads: [data-gateway] }\n`;
  const ok = parseTopology(doc('egress: { allowDomains: [allowed.example.test, .servicebus.windows.net], connectPorts: [443, 8883] }\n', 'proxy: { port: 3200 }, '));
  assert.equal(egressOf(ok), { allowDomains: ['allowed.example.test', '.servicebus.windows.net'], connectPorts: [443, 8883] });
  assert.is(proxyPortOf(ok.levels[0]!), 3200);
  try {
    parseTopology(doc('egress: { allowDomains: [], connectPorts: [0], extra: 1 }\n', 'proxy: { port: 2000 }, '), 'bad.yaml');
    assert.unreachable('expected a TopologyError');
  } catch (err) {
    assert.instance(err, TopologyError);
    const problems = (err as TopologyError).problems.join('\n');
    assert.match(problems, /egress: unknown key `extra`/);
    assert.match(problems, /egress\.allowDomains must be a non-empty list/);
    assert.match(problems, /egress\.connectPorts: 0 is not a TCP port/);
  }
  try {
    parseTopology(doc('', 'proxy: { port: 2000 }, '), 'bad.yaml');
    assert.unreachable('expected a TopologyError');
  } catch (err) {
    assert.match((err as TopologyError).problems.join('\n'), /port 2000 is claimed by top broker workloadPort and top proxy port/);
  }
});

test.run();

// `node dist/src/netns/main.js up|sweep`: the netns target's network and proxy chain for a person
// to look at. `up` brings up one namespace per level plus `internet` (with the stand-in service
// for allowed.example.test / forbidden.example.test), starts a Squid per level, prints the
// commands to try, and tears everything down on Ctrl-C or after --duration seconds.
// `sweep` removes what crashed runs left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadTopology } from '../topology/parse.js';
import { proxyPortOf, parentFirst } from '../topology/model.js';
import { NsAgent } from './agent-client.js';
import { bringUp, INTERNET, netnsUnavailable, newRunId, nodeOf, planNetwork, sweepLeftovers, tearDown } from './net.js';
import { planProxies, startProxies, stopProxies, type RunningProxy } from './proxies.js';

export const STAND_IN_NAMES = ['allowed.example.test', 'forbidden.example.test'];

async function up(topologyFile: string | undefined, durationS: number | undefined, allow: string[]): Promise<void> {
  const topology = loadTopology(topologyFile);
  const dir = mkdtempSync(join(tmpdir(), 'edge-netns-'));
  const plan = planNetwork(topology, newRunId(), STAND_IN_NAMES);
  let internet: NsAgent | undefined;
  let proxies: RunningProxy[] = [];
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (durationS !== undefined) setTimeout(resolve, durationS * 1000).unref();
  });
  try {
    await sweepLeftovers();
    await bringUp(plan);
    internet = await NsAgent.start(nodeOf(plan, INTERNET).ns, join(dir, 'internet.log'));
    for (const [port, serve] of [[80, 'http'], [443, 'tcp'], [8443, 'tcp']] as const) {
      const r = serve === 'http' ? await internet.serveHttp('0.0.0.0', port) : await internet.serveTcp('0.0.0.0', port);
      if (!r.ok) throw new Error(`the internet stand-in cannot listen on ${port}: ${r.error}`);
    }
    proxies = await startProxies(planProxies(topology, plan, dir, allow));
    const leaf = parentFirst(topology).at(-1)!;
    const ns = (name: string): string => nodeOf(plan, name).ns;
    const port = proxyPortOf(leaf);
    const top = parentFirst(topology)[0]!;
    process.stderr.write(
      [
        `netns target up (data in ${dir}):`,
        ...plan.links.map((l) => `  link ${l.name.padEnd(14)} ${l.cidr.padEnd(15)} ${l.lower}=${l.lowerAddress} ${l.upper}=${l.upperAddress}`),
        ...Object.values(plan.nodes).map((n) => `  ${n.name.padEnd(9)} namespace ${n.ns}`),
        '',
        'try (in another shell, as root):',
        `  ip netns exec ${ns(leaf.name)} curl -s -x 127.0.0.1:${port} http://allowed.example.test/     # 200 through the whole chain`,
        `  ip netns exec ${ns(leaf.name)} curl -s -o /dev/null -w '%{http_code}\\n' -x 127.0.0.1:${port} http://forbidden.example.test/   # 403`,
        `  ip netns exec ${ns(leaf.name)} curl -s -m 2 http://allowed.example.test/   # fails: no route out of ${leaf.name}`,
        `  ip netns exec ${ns(leaf.name)} ip route      # one route: the link to ${leaf.parent ?? 'nothing'}`,
        `  tail -f ${join(dir, '*', 'squid', 'access.log')}   # each hop of every request`,
        `  ip -n ${ns(leaf.name)} link set up0 down     # cut ${leaf.name}'s uplink (and 'up' to restore)`,
        `  top level ${top.name} goes out to: ${allow.join(', ')}`,
        '',
        durationS !== undefined ? `tearing down in ${durationS} s (or Ctrl-C)` : 'Ctrl-C tears everything down',
        '',
      ].join('\n'),
    );
    process.stdout.write(JSON.stringify({ runId: plan.runId, dataDir: dir, namespaces: Object.fromEntries(Object.values(plan.nodes).map((n) => [n.name, n.ns])), links: plan.links }) + '\n');
    await stop;
  } finally {
    await stopProxies(proxies);
    await internet?.stop();
    await tearDown(plan);
    rmSync(dir, { recursive: true, force: true });
    process.stderr.write('netns target torn down: no namespace, veth or /etc/netns dir of this run is left\n');
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { topology: { type: 'string' }, duration: { type: 'string' }, allow: { type: 'string' } },
  });
  const reason = await netnsUnavailable();
  if (reason) throw new Error(reason);
  const command = positionals[0] ?? 'up';
  if (command === 'sweep') {
    const removed = await sweepLeftovers();
    process.stdout.write(JSON.stringify({ removed }) + '\n');
    return;
  }
  if (command !== 'up') throw new Error(`unknown command "${command}": use up [--topology FILE] [--duration S] [--allow a,b] or sweep`);
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) throw new Error('--duration must be a positive number of seconds');
  const allow = (values.allow ?? 'allowed.example.test').split(',').map((d) => d.trim()).filter(Boolean);
  await up(values.topology, duration, allow);
}

main().catch((err: Error) => {
  process.stderr.write(`edge netns: ${err.message}\n`);
  process.exit(1);
});

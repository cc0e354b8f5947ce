// The images built here and an air-gapped install rehearsed through two local OCI registries.
// Every image is built from this repo with buildah (chroot isolation, vfs storage) on base images
// made here from Debian packages and the npm registry (the collector and Dapr's six: binaries
// cross-compiled here from the Go module proxy): nothing is pulled. Each image runs the way a
// cluster would run it (entrypoint, user, env) under `buildah run`. Then registry A (connected)
// and B (the site), both on 127.0.0.1: push to A, skopeo copy to B keeping digests, and the
// bundle's steps, given that relocation, deploy to a real API server manifests whose every image
// reference is in B by digest.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as k8s from '@kubernetes/client-node';
import { $ } from 'zx';
import { toolPath } from '../src/common/tools.js';
import { renderSquidConf } from '../src/config/squid.js';
import { ensureCredentials } from '../src/config/credentials.js';
import { ensureBrokerPki, readPkiMaterial } from '../src/pki/broker-pki.js';
import { loadTopology } from '../src/topology/parse.js';
import { ensureBaseImages } from '../src/images/base.js';
import { buildCollectorBinary, buildDaprBinary, buildImages, withImageRoot, type BuiltImage } from '../src/images/build.js';
import { inspectImage } from '../src/images/buildah.js';
import { startRegistry, hasManifest, getManifest, catalog, type Registry } from '../src/images/registry.js';
import { copyImages, pushImages, relocationMapping, type PushedImage } from '../src/images/relocate.js';
import { runImage, startImage, type RunningImage, type RunSpec } from '../src/images/smoke.js';
import { ARCHES, cannotBuild, DAPR_IMAGES, daprBinary, hostArch, IMAGES, isDaprImage, LOCAL_PREFIX, readPins, REPO_ROOT, SERVICES, WORKLOADS, type ImageName } from '../src/images/versions.js';
import { KNOWN_IMAGES, type BundleInputs } from '../src/kubernetes/inputs.js';
import { childListenerNames, collectorListenerNames, OTEL_COLLECTOR_RELEASE, OTEL_COLLECTOR_SECRET, renderDeployment } from '../src/kubernetes/render.js';
import { bundleEnv, bundleWorkDir, createFakeVolumes, runStep } from '../src/testcluster/bundle-harness.js';
import { startTestCluster } from '../src/testcluster/cluster.js';
import { Cleanup } from './helpers.js';

const say = (line: string): void => void process.stderr.write(`[images] ${line}\n`);
const timings: Record<string, string> = {};
const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    timings[what] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  }
};

const cleanup = new Cleanup();
let built: BuiltImage[] = [];
let pushed: PushedImage[] = [];
let copied: PushedImage[] = [];
let registryA: Registry | undefined;
let registryB: Registry | undefined;

const image = (name: ImageName): BuiltImage => built.find((b) => b.name === name)!;
/** The host architecture's image of `name` (what buildah run can execute natively). */
const hostImage = (name: ImageName): string => image(name).arches.find((a) => a.arch === hostArch())!.image;
const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
const devOnly = Object.entries(lock.packages).filter(([path, p]) => path.startsWith('node_modules/') && p.dev).map(([path]) => path);
const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

test.before(async () => {
  const arches = ARCHES.filter((a) => !cannotBuild(a));
  for (const a of ARCHES.filter((x) => cannotBuild(x))) say(`not building ${a}: ${cannotBuild(a)}`);
  // The foreign architecture for one workload and one service; `npm run images` builds it for all
  // thirteen (a Go image for arm64 is one more cross-compilation: the first about 7 minutes cold).
  // uvu reports a failed hook as every test failing, without its error: say it here.
  built = await timed('build (npm run images)', () => buildImages({ arches, foreignArchNames: ['temperature-sensor', 'mosquitto'], log: say })).catch((err: unknown) => {
    say(`build failed: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  });
});

test.after(async () => {
  await cleanup.run();
  say(`timings: ${JSON.stringify(timings)}`);
});

test('every image is built here on bases made from scratch: labels, non-root user, git tags, only its own code and production dependencies, an SBOM', async () => {
  assert.equal(built.map((b) => b.name).sort(), [...IMAGES].sort());
  const pins = readPins();
  const base = await ensureBaseImages(hostArch());
  const debian = await inspectImage(base.debian);
  const node = await inspectImage(base.node);
  assert.is(debian?.layers, 1, 'the Debian base is one layer FROM scratch: the debootstrap root filesystem');
  assert.ok(node?.env.includes(`NODE_VERSION=${pins.NODE_VERSION}`), 'the Node base carries the pinned version');

  const sizes: string[] = [];
  for (const b of built) {
    assert.match(b.tag, /^[0-9A-Za-z.-]+-git\.[0-9a-f]{12}(\.dirty\.[0-9a-f]{8})?$/, `${b.name}: tag from the git revision: ${b.tag}`);
    for (const a of b.arches) {
      const info = (await inspectImage(a.image))!;
      assert.is(info.architecture, a.arch, `${b.name} ${a.arch}`);
      const labels = info.labels;
      if ((WORKLOADS as readonly string[]).includes(b.name)) {
        // buildah reuses cached layers across WORKLOAD values: the config must still be this workload's.
        assert.ok(info.env.includes(`EDGE_WORKLOAD=${b.name}`), `${b.name}: EDGE_WORKLOAD`);
        assert.is(labels['org.opencontainers.image.version'], b.version);
      }
      assert.is(labels['org.opencontainers.image.title'], `nested-edge ${b.name}`);
      for (const key of ['title', 'description', 'revision', 'created', 'source', 'licenses', 'base.name']) assert.ok(labels[`org.opencontainers.image.${key}`], `${b.name}: label org.opencontainers.image.${key}`);
      assert.match(labels['org.opencontainers.image.revision']!, /^[0-9a-f]{12}(-dirty)?$/);
      assert.ok(b.tag.includes(`git.${labels['org.opencontainers.image.revision']!.slice(0, 12)}`), `${b.name}: the tag names the revision of its label`);
      assert.ok(labels['org.opencontainers.image.base.name']!.startsWith(`${LOCAL_PREFIX}/`), `${b.name}: built on a base made here, not pulled`);
      // Dapr's: distroless "nonroot", as upstream's images (the chart sets runAsNonRoot).
      const user = isDaprImage(b.name) ? '65532:65532' : ({ mosquitto: '1883:1883', squid: '13:13', 'otel-collector': '10001:10001' }[b.name as string] ?? '1000:1000');
      assert.is(info.user, user, `${b.name}: runs as ${user}, not root`);
      sizes.push(`${b.name} ${a.arch} ${(a.bytes / 1e6).toFixed(1)} MB`);
    }
  }
  say(`sizes (uncompressed): ${sizes.join(', ')}`);

  for (const name of WORKLOADS) {
    await withImageRoot(hostImage(name), (root) => {
      const app = join(root, 'app');
      const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies?: unknown };
      for (const [dep, version] of Object.entries(pkg.dependencies)) assert.is(version, rootPackage.dependencies[dep], `${name}: ${dep} is a production dependency at the locked version`);
      assert.is(pkg.devDependencies, undefined);
      // Nothing the lock file marks dev-only (a production package may itself depend on @types/*).
      for (const dev of devOnly) assert.not.ok(existsSync(join(app, dev)), `${name}: no dev-only package ${dev}`);
      for (const unused of Object.keys(rootPackage.dependencies).filter((d) => !(d in pkg.dependencies))) assert.not.ok(existsSync(join(app, 'node_modules', unused)), `${name}: no ${unused} (the steps' dependency, not this workload's)`);
      assert.equal(readdirSync(join(app, 'dist', 'workloads')).sort(), [name, 'shared'].sort(), `${name}: only its own code and the shared library`);
      const bom = JSON.parse(readFileSync(join(app, 'sbom', 'npm.cdx.json'), 'utf8')) as { bomFormat: string; components: Array<{ name: string; group?: string }> };
      assert.is(bom.bomFormat, 'CycloneDX');
      const components = new Set(bom.components.map((c) => (c.group ? `${c.group}/${c.name}` : c.name)));
      for (const dep of Object.keys(pkg.dependencies)) assert.ok(components.has(dep), `${name}: SBOM lists ${dep}`);
      const listed = readFileSync(join(app, 'sbom', 'npm-dependencies.txt'), 'utf8');
      for (const dep of Object.keys(pkg.dependencies)) assert.ok(listed.includes(`${dep}@`), `${name}: dependency list names ${dep}`);
      assert.match(readFileSync(join(root, 'usr/share/nested-edge/sbom/debian-packages.tsv'), 'utf8'), /^libc6\t/m, `${name}: the base's Debian package list`);
    });
  }
  for (const name of SERVICES) {
    await withImageRoot(hostImage(name), (root) => {
      assert.match(readFileSync(join(root, 'usr/share/nested-edge/sbom/debian-packages.tsv'), 'utf8'), new RegExp(`^${name}\\t${image(name).version.replace(/[+.]/g, '\\$&')}\\t`, 'm'), `${name}: package list names the installed version`);
      assert.equal(readdirSync(join(root, 'var/lib/apt/lists')).filter((f) => f !== 'lock' && f !== 'partial' && f !== 'auxfiles'), [], `${name}: no apt lists left in the image`);
    });
  }
  // The collector: exactly the binary tools/build-otelcol.sh --arch cross-compiled for each architecture, on the Debian base.
  for (const a of image('otel-collector').arches) {
    const binary = await buildCollectorBinary(a.arch);
    await withImageRoot(a.image, (root) => {
      assert.ok(readFileSync(join(root, 'usr/local/bin/otelcol-edge')).equals(readFileSync(binary.path)), `otel-collector ${a.arch}: the linux/${a.arch} build of otelcol-edge`);
      assert.is(readFileSync(join(root, 'usr/share/nested-edge/version'), 'utf8'), binary.version);
      assert.match(readFileSync(join(root, 'usr/share/nested-edge/sbom/debian-packages.tsv'), 'utf8'), /^libc6\t/m, "the base's Debian package list");
    });
  }
  assert.is(image('otel-collector').version, '0.165.0-edge');
  // Dapr's: exactly the binary built for each architecture, at /<binary> where the chart runs it.
  for (const name of DAPR_IMAGES) {
    for (const a of image(name).arches) {
      const binary = await buildDaprBinary(name, a.arch);
      await withImageRoot(a.image, (root) => {
        assert.ok(readFileSync(join(root, daprBinary(name))).equals(readFileSync(binary.path)), `${name} ${a.arch}: /${daprBinary(name)} is the linux/${a.arch} build`);
        assert.is(readFileSync(join(root, 'usr/share/nested-edge/version'), 'utf8'), '1.16.2');
      });
    }
    assert.is(image(name).version, '1.16.2', `${name}: the Dapr release`);
  }
});

/** The environment each workload needs to start, as the charts give it. */
function workloadSpec(name: (typeof WORKLOADS)[number], dir: string, extra: Record<string, string> = {}): RunSpec {
  const spec: RunSpec = { image: hostImage(name), env: { EDGE_LEVEL: 'l2', ...extra } };
  if (name === 'opc-publisher') {
    writeFileSync(join(dir, 'publishednodes.json'), JSON.stringify([{ EndpointUrl: 'opc.tcp://127.0.0.1:4840', OpcNodes: [{ Id: 'ns=1;s=StepUp' }] }]), { mode: 0o644 });
    spec.env!.PUBLISHED_NODES_FILE = '/config/publishednodes.json';
    spec.mounts = { [join(dir, 'publishednodes.json')]: '/config/publishednodes.json' };
  }
  if (name === 'data-gateway') Object.assign(spec.env!, { EDGE_LEVEL: 'l4', GATEWAY_SINKS: 'file', GATEWAY_SINK_FILE: '/tmp/sink.jsonl' });
  return spec;
}

test('--check validates each workload configuration and loads its dependencies, exit 0; a bad value exits 2 naming the variable', async () => {
  await timed('--check x4', async () => {
    for (const name of WORKLOADS) {
      const r = await runImage({ ...workloadSpec(name, cleanup.dir(`check-${name}`)), args: ['--check'] });
      assert.is(r.code, 0, `${name} --check: ${r.stderr}`);
      const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { workload: string; config: string; dependencies: Record<string, string> };
      assert.is(report.workload, name);
      assert.is(report.config, 'valid');
      // It imported every package of the image's package.json: each a production dependency at the locked version.
      for (const [dep, version] of Object.entries(report.dependencies)) assert.is(version, rootPackage.dependencies[dep], `${name}: loaded ${dep}`);
    }
    const bad = await runImage({ image: hostImage('temperature-sensor'), args: ['--check'], env: { SENSOR_INTERVAL_MS: 'soon' } });
    assert.is(bad.code, 2, bad.stdout + bad.stderr);
    assert.match(bad.stdout + bad.stderr, /SENSOR_INTERVAL_MS/);
  });
});

/** Polls a probe inside the container's network namespace until it succeeds. */
async function probeUntil(run: RunningImage, script: string, what: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await run.probe(script);
    } catch (err) {
      if (Date.now() > deadline || !run.process.isRunning()) throw new Error(`${what}: ${(err as Error).message}\n--- container log ---\n${readFileSync(run.logFile, 'utf8').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function uidOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

const HEALTHZ = `fetch('http://127.0.0.1:8080/healthz').then(async (r) => { if (r.status !== 200) throw new Error('HTTP ' + r.status); console.log(await r.text()); })`;
const OPCUA_ENDPOINTS = `const { OPCUAClient } = require('node-opcua');
(async () => {
  const c = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0, initialDelay: 100 } });
  await c.connect('opc.tcp://127.0.0.1:4840');
  const endpoints = await c.getEndpoints();
  await c.disconnect();
  console.log(endpoints.length + ' endpoints');
})().catch((e) => { console.error(e.message); process.exit(1); });`;

test('each workload image starts its workload from the entrypoint, as uid 1000, and stops gracefully on SIGTERM', async () => {
  await timed('start + SIGTERM x4', async () => {
    for (const name of WORKLOADS) {
      const dir = cleanup.dir(`start-${name}`);
      // opc-plc has no health endpoint (the chart probes its TCP port): ask it for its endpoints.
      const spec = workloadSpec(name, dir, name === 'opc-plc' ? { OPC_PORT: '4840', OPC_HOSTNAME: '127.0.0.1' } : { HEALTH_PORT: '8080' });
      const run = await startImage(spec, join(dir, 'container.log'));
      cleanup.add(() => run.stop());
      const answer = await probeUntil(run, name === 'opc-plc' ? OPCUA_ENDPOINTS : HEALTHZ, `${name} answering`);
      assert.match(answer, name === 'opc-plc' ? /\d+ endpoints/ : /ok/);
      assert.is(uidOf(run.containerPid()), 1000, `${name} runs as uid 1000`);
      const exit = await run.terminate();
      const log = readFileSync(run.logFile, 'utf8');
      assert.match(log, /"msg":"shutting down"/, `${name}: graceful shutdown started\n${log.slice(-1500)}`);
      assert.is(exit, 0, `${name}: exit after SIGTERM\n${log.slice(-1500)}`);
      await run.stop();
    }
  });
});

test('the broker and proxy images run the way the charts start them', async () => {
  await timed('broker + proxy start', async () => {
    // The directories are mounted into the containers: readable by their non-root users.
    const bdir = cleanup.dir('mosquitto');
    chmodSync(bdir, 0o755);
    writeFileSync(join(bdir, 'mosquitto.conf'), ['listener 1883 127.0.0.1', 'allow_anonymous true', 'persistence true', 'persistence_location /mosquitto/data/', 'autosave_interval 1', ''].join('\n'), { mode: 0o644 });
    const broker = await startImage({ image: hostImage('mosquitto'), mounts: { [bdir]: '/mosquitto/config' } }, join(bdir, 'container.log'));
    cleanup.add(() => broker.stop());
    const mqtt = `const mqtt = require('mqtt');
const c = mqtt.connect('mqtt://127.0.0.1:1883', { reconnectPeriod: 0, connectTimeout: 3000, clientId: 'smoke', clean: false });
c.on('connect', () => c.publish('telemetry/smoke', 'x', { qos: 1 }, (err) => { if (err) { console.error(err.message); process.exit(1); } console.log('puback'); c.end(); }));
c.on('error', (e) => { console.error(e.message); process.exit(1); });`;
    assert.match(await probeUntil(broker, mqtt, 'mosquitto accepting a QoS 1 publish'), /puback/);
    assert.is(uidOf(broker.containerPid()), 1883, 'mosquitto runs as uid 1883');
    assert.is(await broker.terminate(), 0, readFileSync(broker.logFile, 'utf8'));

    const pdir = cleanup.dir('squid');
    chmodSync(pdir, 0o755);
    writeFileSync(join(pdir, 'squid.conf'), renderSquidConf({
      levelName: 'l4', bindAddress: '127.0.0.1', port: 3128, allowDomains: ['allowed.example.test'], connectPorts: [443], clientCidrs: ['127.0.0.0/8'],
      // The chart logs to /dev/stdout: runc hands a container its stdio owned by the container's
      // user, buildah's chroot isolation does not, so Squid (uid 13) could not reopen it here.
      paths: { pidFile: '/tmp/squid.pid', accessLog: '/tmp/access.log', cacheLog: '/tmp/cache.log', coredumpDir: '/tmp' },
      runtime: { visibleHostname: 'proxy.smoke.test', shutdownLifetimeS: 1, pinger: false },
    }), { mode: 0o644 });
    const proxy = await startImage({ image: hostImage('squid'), mounts: { [pdir]: '/etc/squid-edge' } }, join(pdir, 'container.log'));
    cleanup.add(() => proxy.stop());
    const denied = `const http = require('node:http');
http.get({ host: '127.0.0.1', port: 3128, path: 'http://forbidden.example.test/', headers: { host: 'forbidden.example.test' } }, (r) => { console.log(r.statusCode + ' ' + r.headers.server); r.resume(); }).on('error', (e) => { console.error(e.message); process.exit(1); });`;
    assert.match(await probeUntil(proxy, denied, 'squid answering'), /^403 squid/, 'a domain off the allow-list is refused by the generated config');
    assert.is(uidOf(proxy.containerPid()), 13, 'squid runs as uid 13 (proxy)');
    assert.is(await proxy.terminate(), 0, readFileSync(proxy.logFile, 'utf8'));
  });
});

test('the collector image: --version, the config rendered for the Kubernetes top level validated and run as the chart starts it', async () => {
  await timed('otel-collector --version + validate + start', async () => {
    const collector = hostImage('otel-collector');
    const version = await runImage({ image: collector, args: ['--version'] });
    assert.is(version.code, 0, version.stderr);
    assert.match(version.stdout, /^otelcol-edge version 0\.165\.0-edge$/m);

    // The top level's config and TLS files exactly as the install step renders them (telemetry on).
    const dir = cleanup.dir('otel-collector');
    chmodSync(dir, 0o755);
    const topology = loadTopology();
    const inputs = { namespacePrefix: 'edge-', clusters: {}, images: {}, egressAllowDomains: ['management.azure.com'], sensorIntervalMs: 1000, telemetry: true } as unknown as BundleInputs;
    const pki = await ensureBrokerPki(topology, join(dir, 'pki'), (l) => childListenerNames(topology, inputs, l), (l) => collectorListenerNames(topology, inputs, l));
    const top = renderDeployment(topology, inputs, ensureCredentials(topology), readPkiMaterial(pki))[0]!;
    const config = (top.releases.find((r) => r.name === OTEL_COLLECTOR_RELEASE)!.values as { config: { collectorYaml: string } }).config.collectorYaml;
    for (const sub of ['config', 'tls']) mkdirSync(join(dir, sub), { mode: 0o755 });
    writeFileSync(join(dir, 'config', 'config.yaml'), config, { mode: 0o644 });
    // The chart mounts the Secret 0440 with fsGroup 10001; buildah run has no fsGroup: world-readable here, in a test directory.
    for (const [file, content] of Object.entries(top.secrets.find((s) => s.name === OTEL_COLLECTOR_SECRET)!.stringData)) writeFileSync(join(dir, 'tls', file), content, { mode: 0o644 });
    const mounts = { [join(dir, 'config')]: '/etc/otelcol', [join(dir, 'tls')]: '/etc/otelcol-tls' };
    const validate = await runImage({ image: collector, args: ['validate', '--config', '/etc/otelcol/config.yaml'], mounts });
    assert.is(validate.code, 0, `the rendered top-level config is valid for the image's collector: ${validate.stdout}${validate.stderr}`);
    const missing = await runImage({ image: collector, args: ['validate', '--config', '/etc/otelcol/absent.yaml'], mounts });
    assert.is.not(missing.code, 0, 'validate fails on a config it cannot read: it is not a no-op');

    // Started the way the chart starts it (the image's entrypoint, --config /etc/otelcol/config.yaml).
    const run = await startImage({ image: collector, mounts }, join(dir, 'container.log'));
    cleanup.add(() => run.stop());
    const otlp = `fetch('http://127.0.0.1:4318/v1/traces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'smoke' } }] }, scopeSpans: [{ spans: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'smoke', kind: 1, startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }] }) }).then(async (r) => { if (r.status !== 200) throw new Error('HTTP ' + r.status + ' ' + await r.text()); console.log('accepted'); })`;
    assert.match(await probeUntil(run, otlp, 'the collector accepting OTLP/HTTP'), /accepted/);
    // Written out by the file exporter (its own metrics, in the container's namespace) before the
    // SIGTERM: otelcol-edge 0.165.0 can reject at shutdown what a batch still holds when the file
    // exporter serves several pipelines (docs/telemetry.md, known limits).
    const written = `fetch('http://127.0.0.1:8888/metrics').then((r) => r.text()).then((t) => { if (!/^otelcol_exporter_sent_spans\\{[^}]*exporter="file"[^}]*\\} 1$/m.test(t)) throw new Error('not written yet'); console.log('written'); })`;
    assert.match(await probeUntil(run, written, 'the span written by the file exporter'), /written/);
    assert.is(uidOf(run.containerPid()), 10001, 'the collector runs as uid 10001');
    assert.is(await run.terminate(), 0, readFileSync(run.logFile, 'utf8').slice(-2000));
    assert.not.match(readFileSync(run.logFile, 'utf8'), /"level":"error"/);
  });
});

/** What each Dapr binary logs first when it starts (cmd/<name>/app/app.go), with the stamped release. */
const DAPR_STARTED = /Starting Dapr [A-Za-z ]+ -- version 1\.16\.2 -- commit 3c7722a8c564/;

test("Dapr's images: daprd --version as upstream's are run, and every service starts as uid 65532 and logs version 1.16.2", async () => {
  await timed('dapr x6 start', async () => {
    // As the chart and the injector run them (the binary at /<name>), and as `docker run IMAGE /daprd --version`.
    const version = await runImage({ image: hostImage('daprd'), args: ['/daprd', '--version'] });
    assert.is(version.code, 0, version.stderr);
    assert.is(version.stdout.trim(), '1.16.2');
    // The image's own CMD starts daprd: without an app id it stops at once, after its first log line.
    const bare = await runImage({ image: hostImage('daprd'), ownNetwork: true });
    assert.match(bare.stdout + bare.stderr, DAPR_STARTED);
    assert.match(bare.stdout + bare.stderr, /app-id cannot be empty/);
    for (const name of DAPR_IMAGES) {
      // Outside a cluster each service stops at its first dependency (kubeconfig, config, host IP);
      // placement runs until the timeout's SIGTERM. Its own network namespace: nothing binds here.
      const r = await runImage({ image: hostImage(name), args: ['/bin/sh', '-c', 'id -u && exec timeout 5 "$EDGE_DAPR_BINARY"'], ownNetwork: true }, 30_000);
      const out = r.stdout + r.stderr;
      assert.match(out, /^65532$/m, `${name}: runs as uid 65532\n${out.slice(-800)}`);
      assert.match(out, DAPR_STARTED, `${name}: /${daprBinary(name)} started\n${out.slice(-800)}`);
      assert.not.match(out, /exec format error|exec: .*: not found|Permission denied/, `${name}: ${out.slice(-800)}`);
    }
  });
});

test('registry A (connected) and B (site), both on 127.0.0.1: push to A, skopeo copy to B keeps every digest', async () => {
  await timed('registries + push + copy', async () => {
    registryA = await startRegistry('a');
    cleanup.add(() => registryA?.stop());
    registryB = await startRegistry('b');
    cleanup.add(() => registryB?.stop());
    for (const r of [registryA, registryB]) assert.match(r.host, /^127\.0\.0\.1:\d+$/);
    pushed = await pushImages(built, registryA.host);
    copied = await copyImages(pushed, registryB.host);
  });
  for (const c of copied) {
    const a = pushed.find((p) => p.name === c.name)!;
    assert.is(c.digest, a.digest, `${c.name}: same index digest in A and B`);
    const repo = c.repository.slice(registryB!.host.length + 1);
    assert.ok(await hasManifest(registryB!.host, repo, c.digest), `${c.name}: index in B by digest`);
    const index = await getManifest(registryB!.host, repo, c.digest);
    assert.equal(index.manifest.manifests!.map((m) => m.platform!.architecture).sort(), image(c.name).arches.map((x) => x.arch).sort(), `${c.name}: every architecture built`);
    for (const m of index.manifest.manifests!) assert.ok(await hasManifest(registryB!.host, repo, m.digest), `${c.name}: ${m.platform!.architecture} image in B by digest`);
  }
  assert.equal((await catalog(registryB!.host)).sort(), built.map((b) => `nested-edge/${b.name}`).sort());
  say(`compressed sizes: ${pushed.map((p) => `${p.name} ${Object.entries(p.compressed).map(([arch, n]) => `${arch} ${(n / 1e6).toFixed(1)} MB`).join(' ')}`).join(', ')}`);
});

test('given the relocation mapping, the steps deploy only references to B; every digest resolves in B, none refers to A or a public registry', async () => {
  assert.ok(registryA && registryB && copied.length === built.length, 'needs the previous test');
  const images = relocationMapping(copied);
  assert.equal(Object.keys(images).sort(), [...KNOWN_IMAGES].sort(), 'the mapping covers every image porter.yaml lists');
  const work = bundleWorkDir();
  cleanup.add(() => $`rm -rf ${work}`.quiet());
  const cluster = await timed('test cluster start', () => startTestCluster({ nodes: 2 }));
  cleanup.add(() => cluster.stop());
  await createFakeVolumes(cluster.kubeconfigPath, 8);
  // With telemetry, so the collector image is deployed too.
  const r = await timed('install with EDGE_IMAGES', () => runStep('install', { ...bundleEnv(cluster.kubeconfigPath, work), EDGE_IMAGES: JSON.stringify(images), EDGE_TELEMETRY: 'true' }));
  assert.is(r.code, 0, r.stderr);

  // Every reference: in the manifests Helm applied, and in what the API server holds.
  const refs = new Set<string>();
  const namespaces = ['dapr-system', ...Object.values(r.report.levels ?? {}).map((l) => l.namespace)];
  for (const ns of namespaces) {
    const releases = JSON.parse((await $`${toolPath('helm')} list --kubeconfig ${cluster.kubeconfigPath} -n ${ns} -o json`.quiet()).stdout) as Array<{ name: string }>;
    for (const rel of releases) {
      const m = await $`${toolPath('helm')} get manifest ${rel.name} --kubeconfig ${cluster.kubeconfigPath} -n ${ns}`.quiet();
      for (const x of m.stdout.matchAll(/(?:image|dapr\.io\/sidecar-image):\s*"?([^"\s]+)"?/g)) refs.add(x[1]!);
    }
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const templates = [
    ...(await apps.listDeploymentForAllNamespaces()).items.map((d) => d.spec!.template),
    ...(await apps.listStatefulSetForAllNamespaces()).items.map((s) => s.spec!.template),
    ...(await core.listPodForAllNamespaces()).items.map((p) => ({ metadata: p.metadata, spec: p.spec })),
  ];
  for (const t of templates) {
    for (const c of [...(t.spec?.containers ?? []), ...(t.spec?.initContainers ?? [])]) if (c.image) refs.add(c.image);
    const sidecar = t.metadata?.annotations?.['dapr.io/sidecar-image'];
    if (sidecar) refs.add(sidecar);
  }
  const all = [...refs].sort();
  assert.ok(all.length >= 8, `found ${all.length} image references`);
  assert.equal(all.filter((ref) => !ref.startsWith(`${registryB!.host}/`)), [], 'every reference names registry B');
  assert.equal(all.filter((ref) => ref.includes(registryA!.host) || /(^|\/)(docker\.io|ghcr\.io|quay\.io|mcr\.microsoft\.com|registry\.k8s\.io)\//.test(ref)), [], 'none names A or a public registry');

  const byDigest = all.filter((ref) => ref.includes('@sha256:'));
  const covered = new Set<string>();
  for (const ref of byDigest) {
    const [repo, digest] = ref.slice(registryB!.host.length + 1).split('@') as [string, string];
    assert.ok(await hasManifest(registryB!.host, repo, digest), `${ref} resolves in B`);
    covered.add(copied.find((c) => c.digest === digest)?.name ?? ref);
  }
  // Each image built here is deployed by digest (the broker, proxy and collector per level, the
  // workloads and their sidecars, Dapr's control plane) but the injector's: the test cluster
  // turns the injector off (kwok runs no pods to inject into: bundle-harness.ts).
  assert.equal([...covered].sort(), built.map((b) => b.name).filter((n) => n !== 'dapr-injector').sort(), 'every image built here is referenced by digest');
  assert.equal(all.filter((ref) => !ref.includes('@sha256:')), [], 'every reference is by digest');
  say(`references by digest, resolved in B: ${byDigest.length}`);
});

test.run();

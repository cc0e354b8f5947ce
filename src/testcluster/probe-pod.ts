// Short-lived pods that look at the network from inside a namespace of a real test node: can this
// pod open a TCP connection there, does a broker accept an MQTT CONNECT, does the egress proxy
// chain let a CONNECT through. The probe is a Node script run in an image that has node (a
// workload image); each answer is one word, so a test compares them with what the policy says.
// kube-router puts a new pod's address into the policies' sets about half a second after it
// starts: a probe batch first waits until its control (a probe that must open) opens, so a
// refusal in the batch is the policy's, not the lag's.
import * as k8s from '@kubernetes/client-node';

export type Probe =
  /** A TCP connection: "open", "timeout" or the error code (ECONNREFUSED...). */
  | { kind: 'tcp'; host: string; port: number }
  /** An MQTT 3.1.1 CONNECT with no username, plain or over TLS with `ca` and no client certificate: "connack <rc>", "closed", "timeout" or an error. */
  | { kind: 'mqtt'; host: string; port: number; tls?: { ca: string; servername: string } }
  /** HTTP CONNECT through `proxy` to host:port, then GET /: "CONNECT <status>" when refused, else the response body. */
  | { kind: 'connect'; proxy: string; proxyPort: number; host: string; port: number };

// Plain CommonJS for `node -e`: no dependency beyond Node's own modules.
const PROBE_SCRIPT = String.raw`
const net = require('net'), tls = require('tls'), http = require('http'), fs = require('fs');
const TIMEOUT = 5000;
const settle = (fn) => new Promise((resolve) => { let done = false; const end = (v) => { if (!done) { done = true; resolve(v); } }; fn(end); setTimeout(() => end('timeout'), TIMEOUT + 1000); });
const tcp = (p) => settle((end) => {
  const s = net.connect({ host: p.host, port: p.port, timeout: TIMEOUT });
  s.on('connect', () => { s.destroy(); end('open'); });
  s.on('timeout', () => { s.destroy(); end('timeout'); });
  s.on('error', (e) => end(e.code || e.message));
});
const connectPacket = () => {
  const id = Buffer.from('edge-probe');
  const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 2, 0, 60, 0, id.length]), id]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
};
const mqtt = (p) => settle((end) => {
  const s = p.tls
    ? tls.connect({ host: p.host, port: p.port, ca: fs.readFileSync(p.tls.ca), servername: p.tls.servername, timeout: TIMEOUT })
    : net.connect({ host: p.host, port: p.port, timeout: TIMEOUT });
  s.on(p.tls ? 'secureConnect' : 'connect', () => s.write(connectPacket()));
  s.on('data', (d) => { s.destroy(); end(d[0] === 0x20 ? 'connack ' + d[3] : 'unexpected ' + d[0]); });
  s.on('end', () => end('closed'));
  s.on('close', () => end('closed'));
  s.on('timeout', () => { s.destroy(); end('timeout'); });
  s.on('error', (e) => end(e.code || e.message));
});
const connect = (p) => settle((end) => {
  const req = http.request({ host: p.proxy, port: p.proxyPort, method: 'CONNECT', path: p.host + ':' + p.port, timeout: TIMEOUT });
  req.on('connect', (res, sock) => {
    if (res.statusCode !== 200) { sock.destroy(); return end('CONNECT ' + res.statusCode); }
    sock.write('GET / HTTP/1.1\r\nHost: ' + p.host + '\r\nConnection: close\r\n\r\n');
    let body = '';
    sock.on('data', (d) => (body += d));
    sock.on('end', () => end(body.split('\r\n\r\n').slice(1).join('').trim() || body.trim()));
    sock.on('error', (e) => end(e.code || e.message));
  });
  req.on('timeout', () => { req.destroy(); end('timeout'); });
  req.on('error', (e) => end(e.code || e.message));
  req.end();
});
const kinds = { tcp, mqtt, connect };
const { probes, control } = JSON.parse(process.argv[1]);
(async () => {
  const t0 = Date.now();
  while (control && (await tcp(control)) !== 'open') {
    if (Date.now() - t0 > 30000) { console.log(JSON.stringify({ error: 'the control ' + control.host + ':' + control.port + ' never opened' })); process.exit(3); }
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(JSON.stringify(await Promise.all(probes.map((p) => kinds[p.kind](p)))));
})();
`;

/** A tiny HTTP server answering `body` on `port` (run as root for a port below 1024). */
export const httpServerScript = (port: number, body: string): string =>
  `require('http').createServer((q, s) => s.end(${JSON.stringify(body)})).listen(${port}, () => console.log('listening'))`;

export interface PodRun {
  namespace: string;
  name: string;
  image: string;
  command: string[];
  labels?: Record<string, string>;
  runAsUser?: number;
  volumes?: k8s.V1Volume[];
  volumeMounts?: k8s.V1VolumeMount[];
}

const clients = (kubeconfigPath: string) => {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc.makeApiClient(k8s.CoreV1Api);
};

export async function createPod(kubeconfigPath: string, p: PodRun): Promise<void> {
  await clients(kubeconfigPath).createNamespacedPod({
    namespace: p.namespace,
    body: {
      metadata: { name: p.name, labels: { 'edge.example/probe': 'true', ...p.labels } },
      spec: {
        restartPolicy: 'Never',
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 0,
        ...(p.volumes ? { volumes: p.volumes } : {}),
        containers: [{
          name: 'probe', image: p.image, imagePullPolicy: 'Never', command: p.command,
          ...(p.runAsUser !== undefined ? { securityContext: { runAsUser: p.runAsUser, runAsNonRoot: p.runAsUser !== 0 } } : {}),
          ...(p.volumeMounts ? { volumeMounts: p.volumeMounts } : {}),
        }],
      },
    },
  });
}

export async function deletePod(kubeconfigPath: string, namespace: string, name: string): Promise<void> {
  await clients(kubeconfigPath).deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
}

/**
 * Runs the probes from a fresh pod and returns one answer per probe, in order; the pod is deleted.
 * `control`: a TCP endpoint this pod may reach, tried first until it opens (see above).
 */
export async function probeFrom(kubeconfigPath: string, pod: Omit<PodRun, 'command'>, probes: Probe[], control: { host: string; port: number }, timeoutMs = 120_000): Promise<string[]> {
  const core = clients(kubeconfigPath);
  await createPod(kubeconfigPath, { ...pod, command: ['node', '-e', PROBE_SCRIPT, JSON.stringify({ probes, control })] });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = (await core.readNamespacedPod({ namespace: pod.namespace, name: pod.name })).status;
      const terminated = status?.containerStatuses?.[0]?.state?.terminated;
      if (terminated) {
        const logs = await core.readNamespacedPodLog({ namespace: pod.namespace, name: pod.name, container: 'probe' });
        if (terminated.exitCode !== 0) throw new Error(`probe pod ${pod.namespace}/${pod.name} exited ${terminated.exitCode}: ${logs.slice(-500)}`);
        return JSON.parse(logs.trim().split('\n').pop()!) as string[];
      }
      if (Date.now() > deadline) throw new Error(`probe pod ${pod.namespace}/${pod.name} did not finish (${JSON.stringify(status?.containerStatuses?.[0]?.state)})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await deletePod(kubeconfigPath, pod.namespace, pod.name);
  }
}

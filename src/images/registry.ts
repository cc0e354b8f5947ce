// A throw-away OCI registry (Debian's docker-registry, distribution 2.8) on 127.0.0.1 and a free
// port, its data in a temp dir; stop() ends the process and removes the data.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, waitFor, type ManagedProcess } from '../common/proc.js';
import { toolPath } from '../common/tools.js';

export interface Registry {
  /** host:port, e.g. 127.0.0.1:41234: the registry part of image references. */
  host: string;
  dir: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export function httpRequest(method: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export async function startRegistry(name: string): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), `edge-registry-${name}-`));
  const port = await freePort();
  // Loopback only, no auth, no TLS: it stands for a registry, it is not one anyone else reaches.
  writeFileSync(join(dir, 'config.yml'), [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n'));
  const proc = startProcess({ name: `registry-${name}`, command: toolPath('docker-registry'), args: ['serve', join(dir, 'config.yml')], logFile: join(dir, 'registry.log') });
  const host = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await proc.stop(5_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`registry ${name} on ${host}`, async () => proc.isRunning() && (await httpRequest('GET', `http://${host}/v2/`)).status === 200, 15_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, dir, process: proc, stop };
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Whether `repository@digest` (repository without the host) is in the registry, by the registry API. */
export async function hasManifest(host: string, repository: string, digest: string): Promise<boolean> {
  const r = await httpRequest('HEAD', `http://${host}/v2/${repository}/manifests/${digest}`, { Accept: MANIFEST_TYPES });
  return r.status === 200 && r.headers['docker-content-digest'] === digest;
}

/** The manifest (or index) under a tag or digest, and its digest. */
export async function getManifest(host: string, repository: string, reference: string): Promise<{ digest: string; manifest: { mediaType?: string; manifests?: Array<{ digest: string; platform?: { architecture: string } }>; layers?: Array<{ size: number }> } }> {
  const r = await httpRequest('GET', `http://${host}/v2/${repository}/manifests/${reference}`, { Accept: MANIFEST_TYPES });
  if (r.status !== 200) throw new Error(`${host}/${repository}:${reference}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return { digest: String(r.headers['docker-content-digest']), manifest: JSON.parse(r.body) };
}

/** Every repository the registry holds. */
export async function catalog(host: string): Promise<string[]> {
  const r = await httpRequest('GET', `http://${host}/v2/_catalog?n=1000`);
  return (JSON.parse(r.body) as { repositories: string[] }).repositories;
}

// The pinned inputs of the images built here (tools/images/versions.env, shared with the shell
// scripts) and the names the images get.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (this file runs as dist/src/images/versions.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export type Arch = 'amd64' | 'arm64';
export const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

export const WORKLOADS = ['temperature-sensor', 'opc-plc', 'opc-publisher', 'data-gateway'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
/** Images made from Debian packages, standing in for the upstream broker and proxy images. */
export const SERVICES = ['mosquitto', 'squid'] as const;
export type ServiceName = (typeof SERVICES)[number];
/** Images of a Go binary cross-compiled here from the Go module proxy (tools/build-otelcol.sh --arch). */
export const GO_SERVICES = ['otel-collector'] as const;
export type GoServiceName = (typeof GO_SERVICES)[number];
/**
 * Dapr's images, named as porter.yaml's `images:` keys: the sidecar (our slim daprd,
 * tools/build-daprd.sh --arch) and the control plane (tools/build-dapr-control-plane.sh --arch),
 * one recipe, tools/images/Containerfile.dapr.
 */
export const DAPR_IMAGES = ['daprd', 'dapr-operator', 'dapr-sentry', 'dapr-injector', 'dapr-placement', 'dapr-scheduler'] as const;
export type DaprImageName = (typeof DAPR_IMAGES)[number];
export type ImageName = WorkloadName | ServiceName | GoServiceName | DaprImageName;
/** Every image `npm run images` builds. */
export const IMAGES: readonly ImageName[] = [...WORKLOADS, ...SERVICES, ...GO_SERVICES, ...DAPR_IMAGES];

export const isDaprImage = (name: string): name is DaprImageName => (DAPR_IMAGES as readonly string[]).includes(name);

/** The binary of a Dapr image, at /<binary> as in ghcr.io/dapr/<binary> (what the chart runs). */
export const daprBinary = (name: DaprImageName): string => (name === 'daprd' ? 'daprd' : name.slice('dapr-'.length));

/** Where images built here live in local storage (never pushed anywhere but the test registries). */
export const LOCAL_PREFIX = 'localhost/nested-edge';

export interface Pins {
  DEBIAN_SUITE: string;
  DEBIAN_VARIANT: string;
  NODE_VERSION: string;
  NPM_VERSION: string;
}

export function readPins(file = join(REPO_ROOT, 'tools/images/versions.env')): Pins & Record<string, string> {
  const pins: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) pins[m[1]!] = m[2]!;
  }
  for (const k of ['DEBIAN_SUITE', 'DEBIAN_VARIANT', 'NODE_VERSION', 'NPM_VERSION']) if (!pins[k]) throw new Error(`${file} has no ${k}`);
  return pins as Pins & Record<string, string>;
}

export function hostArch(): Arch {
  return process.arch === 'arm64' ? 'arm64' : 'amd64';
}

/** Why `arch` cannot be built here, or undefined when it can (a foreign one runs through qemu). */
export function cannotBuild(arch: Arch): string | undefined {
  if (arch === hostArch()) return undefined;
  const qemu = arch === 'arm64' ? 'qemu-aarch64' : 'qemu-x86_64';
  const entry = `/proc/sys/fs/binfmt_misc/${qemu}`;
  if (!existsSync('/proc/sys/fs/binfmt_misc/status')) return 'binfmt_misc is not mounted (tools/setup.sh --images mounts it and registers qemu-user-static)';
  if (!existsSync(entry)) return `${qemu} is not registered in binfmt_misc (tools/setup.sh --images registers it)`;
  if (!readFileSync(entry, 'utf8').startsWith('enabled')) return `${entry} is disabled`;
  return undefined;
}


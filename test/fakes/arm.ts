// FAKE Azure Resource Manager + FAKE Azure AD token endpoint, for the AKS CONTRACT TEST only.
//
// Azure cannot be reached from the machines the tests run on, so this is a stand-in that speaks
// the same HTTP contract the real services do for the few calls the bundle makes: the OpenID
// metadata and client-credentials token endpoint of a tenant, and GET / PUT / POST
// listClusterAdminCredential on Microsoft.ContainerService/managedClusters with an
// Azure-AsyncOperation long-running operation. It records every request so the test can assert
// what the real SDK sent (api-version, body shape, Authorization header). It is not Azure: what it
// answers is what Azure documents, not what Azure was observed to do from here.
//
// It serves HTTPS on 127.0.0.1 only (the Azure SDK refuses to send bearer tokens over plain http);
// the caller provides the certificate and key.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface FakeArmOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  subscriptionId: string;
  /** PEM server certificate for 127.0.0.1 and its key. */
  cert: string;
  key: string;
  /** How many times the async operation reports InProgress before its final status. */
  inProgressPolls?: number;
}

/** What a test can make the FAKE do instead of the happy path. */
export type FakeArmFault =
  | 'none'
  /** 403 AuthorizationFailed on every ARM call (the principal has no role on the resource group). */
  | 'forbidden'
  /** PUT answers 409 OperationNotAllowed (another operation is in progress). */
  | 'conflict'
  /** PUT answers 400 QuotaExceeded (not enough regional vCPU quota). */
  | 'quota'
  /** PUT answers 400 InvalidParameter on the node VM size. */
  | 'invalid-parameter'
  /** PUT is accepted, the async operation ends Failed and the cluster provisioningState is Failed. */
  | 'provisioning-failed'
  /** Every ARM call in the resource group answers 404 ResourceGroupNotFound. */
  | 'resource-group-not-found';

export interface RecordedRequest {
  kind: 'metadata' | 'token' | 'arm' | 'operation' | 'unknown';
  method: string;
  /** Path without the query string. */
  path: string;
  apiVersion: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
  ifNoneMatch: string | undefined;
  /** Parsed JSON body (ARM) or form fields (token), undefined when empty. */
  body: unknown;
}

export interface FakeCluster {
  id: string;
  name: string;
  type: 'Microsoft.ContainerService/ManagedClusters';
  location: string;
  tags?: Record<string, string>;
  identity?: unknown;
  properties: Record<string, unknown> & { provisioningState: string };
}

interface Operation {
  clusterKey: string;
  remaining: number;
  outcome: 'Succeeded' | 'Failed';
  startTime: string;
}

const CLUSTER_PATH = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.containerservice\/managedclusters\/([^/]+)(?:\/(listclusteradmincredential|listclusterusercredential))?$/i;
const OPERATION_PATH = /^\/subscriptions\/([^/]+)\/providers\/microsoft\.containerservice\/locations\/([^/]+)\/operations\/([^/]+)$/i;

export class FakeArm {
  readonly requests: RecordedRequest[] = [];
  fault: FakeArmFault = 'none';
  /** The bearer token the FAKE token endpoint issues; every ARM call must carry it. */
  readonly token = `fake-arm-token-${randomUUID()}`;
  private readonly clusters = new Map<string, FakeCluster>();
  private readonly operations = new Map<string, Operation>();
  private readonly kubeconfigs = new Map<string, string>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly opts: Required<FakeArmOptions>,
  ) {}

  static async start(options: FakeArmOptions): Promise<FakeArm> {
    const opts: Required<FakeArmOptions> = { inProgressPolls: 2, ...options };
    const server = createServer({ cert: opts.cert, key: opts.key });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeArm(server, `https://127.0.0.1:${port}`, opts);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) fake.json(res, 500, { error: { code: 'FakeInternalError', message: String(err) } });
      });
    });
    return fake;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The scope a client must ask for to call this ARM endpoint. */
  get scope(): string {
    return `${this.url}/.default`;
  }

  /** Puts a cluster in place, as if someone created it earlier. */
  seedCluster(resourceGroup: string, name: string, init: { location: string; provisioningState?: string; nodeCount?: number; vmSize?: string; powerState?: 'Running' | 'Stopped' }): FakeCluster {
    const cluster = this.makeCluster(resourceGroup, name, {
      location: init.location,
      properties: {
        dnsPrefix: name,
        agentPoolProfiles: [{ name: 'system', mode: 'System', count: init.nodeCount ?? 2, vmSize: init.vmSize ?? 'Standard_D4s_v5', osType: 'Linux', type: 'VirtualMachineScaleSets' }],
      },
      identity: { type: 'SystemAssigned' },
    });
    cluster.properties.provisioningState = init.provisioningState ?? 'Succeeded';
    cluster.properties.powerState = { code: init.powerState ?? 'Running' };
    return cluster;
  }

  cluster(resourceGroup: string, name: string): FakeCluster | undefined {
    return this.clusters.get(key(this.opts.subscriptionId, resourceGroup, name));
  }

  /** The kubeconfig YAML the FAKE serves for a cluster (what listClusterAdminCredential encodes). */
  kubeconfigOf(resourceGroup: string, name: string): string | undefined {
    return this.kubeconfigs.get(key(this.opts.subscriptionId, resourceGroup, name));
  }

  /** ARM requests only (no token or metadata calls), as "METHOD path" with the path lower-cased. */
  armSequence(): string[] {
    return this.requests.filter((r) => r.kind === 'arm' || r.kind === 'operation').map((r) => `${r.method} ${r.kind === 'operation' ? 'operation' : shortPath(r.path)}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const raw = await readBody(req);
    const contentType = header(req, 'content-type');
    const record: RecordedRequest = {
      kind: 'unknown',
      method: req.method ?? 'GET',
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version') ?? undefined,
      authorization: header(req, 'authorization'),
      contentType,
      ifNoneMatch: header(req, 'if-none-match'),
      body: parseBody(raw, contentType),
    };
    this.requests.push(record);

    // Azure AD: OpenID metadata (MSAL reads it to find the token endpoint) and the token endpoint.
    const tenant = this.opts.tenantId;
    if (record.method === 'GET' && url.pathname === `/${tenant}/v2.0/.well-known/openid-configuration`) {
      record.kind = 'metadata';
      return this.json(res, 200, this.openidConfiguration());
    }
    if (record.method === 'POST' && url.pathname === `/${tenant}/oauth2/v2.0/token`) {
      record.kind = 'token';
      return this.tokenEndpoint(res, record.body as Record<string, string>);
    }
    if (/^\/[^/]+\/(v2\.0\/\.well-known|oauth2\/)/.test(url.pathname)) {
      return this.aadError(res, 400, 'invalid_request', 90002, `Tenant '${url.pathname.split('/')[1]}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    }

    // ARM: every call needs the token and an api-version, like the real front door.
    const op = OPERATION_PATH.exec(url.pathname);
    const cl = CLUSTER_PATH.exec(url.pathname);
    if (!op && !cl) return this.json(res, 404, { error: { code: 'InvalidResourceType', message: `The FAKE ARM endpoint does not serve ${url.pathname}.` } });
    record.kind = op ? 'operation' : 'arm';
    if (record.authorization !== `Bearer ${this.token}`) {
      return this.json(res, 401, { error: { code: record.authorization ? 'InvalidAuthenticationToken' : 'AuthenticationFailed', message: 'The access token is invalid.' } });
    }
    if (!record.apiVersion) {
      return this.json(res, 400, { error: { code: 'MissingApiVersionParameter', message: "The api-version query parameter (?api-version=) is required for all requests." } });
    }
    const subscription = (op ?? cl)![1]!;
    if (subscription !== this.opts.subscriptionId) {
      return this.json(res, 404, { error: { code: 'SubscriptionNotFound', message: `The subscription '${subscription}' could not be found.` } });
    }
    if (op) return this.operation(res, op[3]!);

    const [, , resourceGroup, name, action] = cl!;
    const k = key(subscription, resourceGroup!, name!);
    const scope = `/subscriptions/${subscription}/resourceGroups/${resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${name}`;
    if (this.fault === 'forbidden') {
      const verb = action ? `${action}/action` : record.method === 'GET' ? 'read' : record.method === 'DELETE' ? 'delete' : 'write';
      return this.json(res, 403, {
        error: {
          code: 'AuthorizationFailed',
          message: `The client '${this.opts.clientId}' with object id '${this.opts.clientId}' does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/${verb}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        },
      });
    }
    if (this.fault === 'resource-group-not-found') {
      return this.json(res, 404, { error: { code: 'ResourceGroupNotFound', message: `Resource group '${resourceGroup}' could not be found.` } });
    }

    if (action) {
      if (record.method !== 'POST') return this.json(res, 405, { error: { code: 'MethodNotAllowed', message: `${action} needs POST` } });
      const kubeconfig = this.kubeconfigs.get(k);
      const cluster = this.clusters.get(k);
      if (!cluster || !kubeconfig) return this.notFound(res, name!, resourceGroup!);
      const credentialName = /admin/i.test(action) ? 'clusterAdmin' : 'clusterUser';
      return this.json(res, 200, { kubeconfigs: [{ name: credentialName, value: Buffer.from(kubeconfig).toString('base64') }] });
    }

    switch (record.method) {
      case 'GET': {
        const cluster = this.clusters.get(k);
        return cluster ? this.json(res, 200, cluster) : this.notFound(res, name!, resourceGroup!);
      }
      case 'PUT':
        if (record.ifNoneMatch === '*' && this.clusters.has(k)) return this.json(res, 412, { error: { code: 'PreconditionFailed', message: `Operation failed because the resource already exists (If-None-Match: *).` } });
        return this.put(res, k, resourceGroup!, name!, record.body);
      case 'DELETE': {
        // Recorded so the test can assert the bundle never sends it; answered as Azure would.
        const existed = this.clusters.delete(k);
        res.writeHead(existed ? 202 : 204).end();
        return;
      }
      default:
        return this.json(res, 405, { error: { code: 'MethodNotAllowed', message: `${record.method} is not supported on managedClusters` } });
    }
  }

  private put(res: ServerResponse, k: string, resourceGroup: string, name: string, body: unknown): void {
    const problems = validateClusterBody(body);
    if (problems.length) return this.json(res, 400, { error: { code: 'InvalidParameter', message: problems.join(' '), target: 'parameters' } });
    const def = body as { location: string; tags?: Record<string, string>; identity?: unknown; properties: Record<string, unknown> };
    switch (this.fault) {
      case 'conflict':
        return this.json(res, 409, { error: { code: 'OperationNotAllowed', message: `Operation is not allowed because there's an in progress create managed cluster operation on ${name}. Please wait for it to finish before starting a new operation.` } });
      case 'quota':
        return this.json(res, 400, { error: { code: 'QuotaExceeded', message: `Preflight validation check for resource(s) for container service ${name} in resource group ${resourceGroup} failed. Message: Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota. Location: ${def.location}, Current Limit: 4, Current Usage: 0, Additional Required: 8.` } });
      case 'invalid-parameter':
        return this.json(res, 400, { error: { code: 'InvalidParameter', message: `The value of parameter agentPoolProfile.vmSize is invalid. Please see https://aka.ms/aks-naming-rules for more details.`, target: 'agentPoolProfile.vmSize' } });
      default:
        break;
    }
    const existed = this.clusters.has(k);
    const cluster = this.makeCluster(resourceGroup, name, def);
    cluster.properties.provisioningState = existed ? 'Updating' : 'Creating';
    const opId = randomUUID();
    this.operations.set(opId, { clusterKey: k, remaining: this.opts.inProgressPolls, outcome: this.fault === 'provisioning-failed' ? 'Failed' : 'Succeeded', startTime: new Date().toISOString() });
    // AKS answers a PUT with 201 (200 on update) and an Azure-AsyncOperation header; it sends no
    // Location header for PUT, so neither does the FAKE.
    const asyncOperation = `${this.url}/subscriptions/${this.opts.subscriptionId}/providers/Microsoft.ContainerService/locations/${encodeURIComponent(def.location)}/operations/${opId}?api-version=2017-08-31`;
    this.json(res, existed ? 200 : 201, cluster, { 'Azure-AsyncOperation': asyncOperation });
  }

  private operation(res: ServerResponse, id: string): void {
    const op = this.operations.get(id);
    if (!op) return this.json(res, 404, { error: { code: 'NotFound', message: `operation ${id} not found` } });
    const base = { name: id, startTime: op.startTime };
    if (op.remaining > 0) {
      op.remaining -= 1;
      return this.json(res, 200, { ...base, status: 'InProgress' });
    }
    const cluster = this.clusters.get(op.clusterKey);
    if (cluster) cluster.properties.provisioningState = op.outcome;
    if (op.outcome === 'Failed') {
      return this.json(res, 200, { ...base, status: 'Failed', endTime: new Date().toISOString(), error: { code: 'VMExtensionProvisioningError', message: 'Unable to establish outbound connection from agents, please see https://learn.microsoft.com/en-us/troubleshoot/azure/azure-kubernetes/error-code-outboundconnfailvmextensionerror for details.' } });
    }
    return this.json(res, 200, { ...base, status: 'Succeeded', endTime: new Date().toISOString() });
  }

  private makeCluster(resourceGroup: string, name: string, def: { location: string; tags?: Record<string, string>; identity?: unknown; properties: Record<string, unknown> }): FakeCluster {
    const k = key(this.opts.subscriptionId, resourceGroup, name);
    const dnsPrefix = String(def.properties.dnsPrefix ?? name);
    const cluster: FakeCluster = {
      id: `/subscriptions/${this.opts.subscriptionId}/resourcegroups/${resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${name}`,
      name,
      type: 'Microsoft.ContainerService/ManagedClusters',
      location: def.location,
      ...(def.tags ? { tags: def.tags } : {}),
      identity: def.identity ? { ...(def.identity as object), principalId: randomUUID(), tenantId: this.opts.tenantId } : undefined,
      properties: {
        kubernetesVersion: '1.33.5',
        currentKubernetesVersion: '1.33.5',
        ...def.properties,
        fqdn: `${dnsPrefix}-fake.hcp.${def.location}.azmk8s.io`,
        nodeResourceGroup: `MC_${resourceGroup}_${name}_${def.location}`,
        powerState: { code: 'Running' },
        provisioningState: 'Creating',
      },
    };
    this.clusters.set(k, cluster);
    // The admin kubeconfig stays the same across updates of a cluster, as AKS's does.
    if (!this.kubeconfigs.has(k)) this.kubeconfigs.set(k, fakeKubeconfig(cluster));
    return cluster;
  }

  private openidConfiguration(): Record<string, unknown> {
    const base = `${this.url}/${this.opts.tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'fake.invalid',
    };
  }

  private tokenEndpoint(res: ServerResponse, form: Record<string, string> | undefined): void {
    const f = form ?? {};
    if (f.grant_type !== 'client_credentials') return this.aadError(res, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${f.grant_type ?? ''}'.`);
    if (f.client_id !== this.opts.clientId) return this.aadError(res, 400, 'unauthorized_client', 700016, `Application with identifier '${f.client_id ?? ''}' was not found in the directory '${this.opts.tenantId}'.`);
    if (f.client_secret !== this.opts.clientSecret) {
      // Like Azure AD, the answer names the app, never the secret that was sent.
      return this.aadError(res, 401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${this.opts.clientId}'.`);
    }
    if (f.scope !== this.scope) return this.aadError(res, 400, 'invalid_scope', 1002012, `The provided value for scope ${f.scope ?? ''} is not valid for this FAKE ARM endpoint (expected ${this.scope}).`);
    this.json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: this.token });
  }

  private aadError(res: ServerResponse, status: number, error: string, code: number, text: string): void {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    this.json(res, status, {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
    });
  }

  private notFound(res: ServerResponse, name: string, resourceGroup: string): void {
    this.json(res, 404, { error: { code: 'ResourceNotFound', message: `The Resource 'Microsoft.ContainerService/managedClusters/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix` } });
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'x-ms-request-id': randomUUID(), ...headers });
    res.end(text);
  }
}

/** What ARM itself would refuse in a managed cluster PUT body (a subset of its validation). */
export function validateClusterBody(body: unknown): string[] {
  const problems: string[] = [];
  const b = (body ?? {}) as { location?: unknown; identity?: { type?: unknown }; properties?: { dnsPrefix?: unknown; fqdnSubdomain?: unknown; agentPoolProfiles?: Array<Record<string, unknown>>; servicePrincipalProfile?: unknown } };
  if (typeof b.location !== 'string' || b.location === '') problems.push('location is required.');
  if (!b.properties) return [...problems, 'properties is required.'];
  if (typeof b.properties.dnsPrefix !== 'string' && typeof b.properties.fqdnSubdomain !== 'string') problems.push('dnsPrefix or fqdnSubdomain is required.');
  else if (typeof b.properties.dnsPrefix === 'string' && !/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,52}[a-zA-Z0-9])?$/.test(b.properties.dnsPrefix)) problems.push(`dnsPrefix '${b.properties.dnsPrefix}' is invalid.`);
  const pools = b.properties.agentPoolProfiles;
  if (!Array.isArray(pools) || pools.length === 0) problems.push('agentPoolProfiles needs at least one pool.');
  else {
    if (!pools.some((p) => p.mode === 'System')) problems.push('at least one agent pool must have mode System.');
    for (const p of pools) {
      if (typeof p.name !== 'string' || !/^[a-z][a-z0-9]{0,11}$/.test(p.name)) problems.push(`agent pool name '${String(p.name)}' is invalid.`);
      if (typeof p.count !== 'number' || p.count < 1) problems.push(`agent pool ${String(p.name)} needs count >= 1.`);
      if (typeof p.vmSize !== 'string' || p.vmSize === '') problems.push(`agent pool ${String(p.name)} needs vmSize.`);
    }
  }
  if (!b.identity?.type && !b.properties.servicePrincipalProfile) problems.push('identity or servicePrincipalProfile is required.');
  return problems;
}

function fakeKubeconfig(cluster: FakeCluster): string {
  const fake = (what: string): string => Buffer.from(`FAKE ${what} for ${cluster.name}, not a certificate`).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${fake('cluster CA')}`,
    `    server: https://${String(cluster.properties.fqdn)}:443`,
    `  name: ${cluster.name}`,
    'contexts:',
    '- context:',
    `    cluster: ${cluster.name}`,
    `    user: clusterAdmin_${cluster.id.split('/')[4]}_${cluster.name}`,
    `  name: ${cluster.name}-admin`,
    `current-context: ${cluster.name}-admin`,
    'preferences: {}',
    'users:',
    `- name: clusterAdmin_${cluster.id.split('/')[4]}_${cluster.name}`,
    '  user:',
    `    client-certificate-data: ${fake('client certificate')}`,
    `    client-key-data: ${fake('client key')}`,
    `    token: ${randomUUID().replace(/-/g, '')}`,
    '',
  ].join('\n');
}

function key(subscription: string, resourceGroup: string, name: string): string {
  return `${subscription}/${resourceGroup}/${name}`.toLowerCase();
}

function shortPath(path: string): string {
  const m = CLUSTER_PATH.exec(path);
  return m ? `managedClusters/${m[3]}${m[4] ? `/${m[4]}` : ''}` : path;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw === '') return undefined;
  if (contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

// The ONE generator of Dapr resources (components, resiliency), used by every target.
import yaml from 'js-yaml';

export interface SecretRef {
  /** Secret name (a key in the local secrets file, or a Kubernetes Secret's name). */
  name: string;
  key: string;
}

export interface PubSubComponentInput {
  componentName: string;
  /** The app that may use it: each workload has its own broker user, so its own component. */
  appId: string;
  /** The secret holding the broker URL with the workload's credentials. */
  urlSecret: SecretRef;
  /** Local target: the secret store component that resolves `urlSecret`; Kubernetes: omitted. */
  secretStore?: string;
  namespace?: string;
}

type DaprResource = Record<string, unknown>;

/**
 * pubsub.mqtt3 for one workload. consumerID is the app id: stable across restarts, so the
 * broker keeps the session and its queued messages (a {podName}-style id would orphan them).
 */
export function pubsubComponent(input: PubSubComponentInput): DaprResource {
  return {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name: input.componentName, ...(input.namespace ? { namespace: input.namespace } : {}) },
    spec: {
      type: 'pubsub.mqtt3',
      version: 'v1',
      metadata: [
        { name: 'url', secretKeyRef: { name: input.urlSecret.name, key: input.urlSecret.key } },
        { name: 'consumerID', value: input.appId },
        { name: 'qos', value: '1' },
        { name: 'retain', value: 'false' },
        { name: 'cleanSession', value: 'false' },
      ],
    },
    ...(input.secretStore ? { auth: { secretStore: input.secretStore } } : {}),
    scopes: [input.appId],
  };
}

/** A secret store reading a JSON file: the local target's stand-in for Kubernetes Secrets. */
export function localFileSecretStore(name: string, secretsFile: string, appId: string): DaprResource {
  return {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name },
    spec: {
      type: 'secretstores.local.file',
      version: 'v1',
      metadata: [
        { name: 'secretsFile', value: secretsFile },
        { name: 'nestedSeparator', value: ':' },
      ],
    },
    scopes: [appId],
  };
}

/** Retries with backoff and a circuit breaker around publishing to the pub/sub component. */
export function resiliencyPolicy(componentName: string, appId: string): DaprResource {
  return {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Resiliency',
    metadata: { name: `${componentName}-resiliency` },
    spec: {
      policies: {
        retries: { brokerRetry: { policy: 'exponential', maxInterval: '10s', maxRetries: -1 } },
        circuitBreakers: { brokerBreaker: { maxRequests: 1, interval: '30s', timeout: '10s', trip: 'consecutiveFailures > 10' } },
        timeouts: { brokerTimeout: '15s' },
      },
      targets: {
        components: {
          [componentName]: {
            outbound: { retry: 'brokerRetry', circuitBreaker: 'brokerBreaker', timeout: 'brokerTimeout' },
          },
        },
      },
    },
    scopes: [appId],
  };
}

/** Several resources as one multi-document YAML stream. */
export function toYaml(resources: DaprResource[]): string {
  return resources.map((r) => yaml.dump(r, { lineWidth: -1, noRefs: true, sortKeys: false })).join('---\n');
}

/** The broker URL a workload's sidecar uses, credentials included: it is a secret. */
export function brokerUrl(user: { username: string; password: string }, host: string, port: number, scheme = 'tcp'): string {
  return `${scheme}://${encodeURIComponent(user.username)}:${encodeURIComponent(user.password)}@${host}:${port}`;
}

/** The name of the Dapr Configuration below, on every target (sidecars name it in --config / dapr.io/config). */
export const DAPR_CONFIGURATION_NAME = 'edge-tracing';

/**
 * The Dapr Configuration every sidecar uses: W3C tracing and metrics on. With `otlpEndpoint` (a
 * collector's OTLP/gRPC host:port, the local target with --otel) the sidecar exports its spans
 * there; a span it makes for a publish is a child of the caller's `traceparent` header.
 */
export function daprConfiguration(name: string, options: { samplingRate: string; otlpEndpoint?: string } = { samplingRate: '1' }): DaprResource {
  return {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Configuration',
    metadata: { name },
    spec: {
      tracing: {
        samplingRate: options.samplingRate,
        ...(options.otlpEndpoint ? { otel: { endpointAddress: options.otlpEndpoint, isSecure: false, protocol: 'grpc' } } : {}),
      },
      metric: { enabled: true },
    },
  };
}

export interface EventHubsBindingInput {
  /** The name the gateway sends to (`GATEWAY_EVENTHUBS_BINDING`). */
  componentName: string;
  /** The data gateway's app id: the only app that may use it. */
  appId: string;
  /** The secret holding the Event Hubs connection string (with `EntityPath=<hub>`, or give `eventHub`). */
  connectionStringSecret: SecretRef;
  /** The hub, when the connection string is namespace-wide (no EntityPath). */
  eventHub?: string;
  /** Local target: the secret store that resolves the secret; Kubernetes: omitted. */
  secretStore?: string;
  namespace?: string;
}

/**
 * bindings.azure.eventhubs, output only: the cloud store behind the data gateway. The connection
 * string is a secretKeyRef, never a value. `bindings.*` rather than `pubsub.azure.eventhubs`
 * because the slim daprd this project builds (tools/daprd) registers the binding (and not the
 * pub/sub), so the same component loads in every target; the gateway sends each message with
 * metadata partitionKey = source, which keeps per-source order in the hub.
 */
export function eventHubsBinding(input: EventHubsBindingInput): DaprResource {
  return {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name: input.componentName, ...(input.namespace ? { namespace: input.namespace } : {}) },
    spec: {
      type: 'bindings.azure.eventhubs',
      version: 'v1',
      metadata: [
        { name: 'connectionString', secretKeyRef: { name: input.connectionStringSecret.name, key: input.connectionStringSecret.key } },
        ...(input.eventHub ? [{ name: 'eventHub', value: input.eventHub }] : []),
        // Output only: no consumer group or checkpoint store is needed, and none is created.
        { name: 'direction', value: 'output' },
      ],
    },
    ...(input.secretStore ? { auth: { secretStore: input.secretStore } } : {}),
    scopes: [input.appId],
  };
}

/**
 * Resiliency for the gateway's outbound sink components (e.g. the Event Hubs binding): retries
 * with backoff and a circuit breaker inside daprd (one breaker per target component), and a
 * timeout per call. Sinks the gateway writes in-process (PostgreSQL through the `pg` driver, the
 * file) have the same policy in the gateway itself (workloads/data-gateway/src/circuit-breaker.ts),
 * where an open circuit keeps their messages held, unacknowledged. Deliberately no
 * policy on the pub/sub component's INBOUND side: daprd's app channel has no timeout by default
 * (measured with Dapr 1.16.2: deliveries held 30.5 s by the gateway during a PostgreSQL outage were acknowledged normally, none redelivered; test/gateway-postgres.test.ts), and a
 * timeout there would leave the MQTT message un-acked for good; the gateway bounds and reports
 * its own hold instead (GATEWAY_HOLD_ALARM_MS).
 */
export function gatewaySinkResiliency(appId: string, components: string[], options: { callTimeout?: string; maxRetries?: number } = {}): DaprResource {
  return {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Resiliency',
    metadata: { name: `${appId}-sinks-resiliency` },
    spec: {
      policies: {
        retries: { sinkRetry: { policy: 'exponential', maxInterval: '5s', maxRetries: options.maxRetries ?? 5 } },
        circuitBreakers: { sinkBreaker: { maxRequests: 1, interval: '30s', timeout: '15s', trip: 'consecutiveFailures > 5' } },
        timeouts: { sinkTimeout: options.callTimeout ?? '10s' },
      },
      targets: {
        components: Object.fromEntries(components.map((c) => [c, { outbound: { retry: 'sinkRetry', circuitBreaker: 'sinkBreaker', timeout: 'sinkTimeout' } }])),
      },
    },
    scopes: [appId],
  };
}

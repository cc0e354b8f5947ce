// The data gateway's stores on Kubernetes. The `sinks` parameter (or, when empty, the topology's
// data-gateway config) selects them; the credentials they need arrive as Porter credentials and
// go into Secrets the step creates, and nowhere else:
//   postgresql  Secret <gateway>-postgres, key url -> the pod's GATEWAY_PG_URL via secretKeyRef
//   eventhubs   Secret <gateway>-eventhubs, key connectionString -> the Dapr binding's
//               connectionString via secretKeyRef (daprd reads it; the gateway never sees it)
// Helm values and ConfigMaps carry only the Secrets' names.
import { eventHubsBinding, gatewaySinkResiliency } from '../config/dapr.js';
import type { Topology, Workload } from '../topology/model.js';
import { workloadEnv } from '../topology/workload-env.js';
import { resolveRouting, type SinkKind } from '../../workloads/data-gateway/src/routes.js';
import { InputError, type BundleInputs } from './inputs.js';
import { loadTopology } from '../topology/parse.js';

export interface GatewaySinksRender {
  sinks: SinkKind[];
  /** The gateway's env without GATEWAY_SINKS (the chart sets it from `sinks`). */
  env: Record<string, string>;
  /** Chart values: `sinks` and, for postgresql, the Secret holding the URL. */
  values: Record<string, unknown>;
  secrets: Array<{ name: string; stringData: Record<string, string> }>;
  /** Dapr resources for the level's dapr-resources release. */
  resources: Array<Record<string, unknown>>;
}

/** The gateway's env with the `sinks` parameter applied over the topology's setting. */
function effectiveEnv(inputs: BundleInputs, w: Workload): Record<string, string> {
  const env = workloadEnv(w);
  if (inputs.sinks) env.GATEWAY_SINKS = inputs.sinks;
  return env;
}

/**
 * Everything about the stores that can be wrong before a cluster is touched: the selection and
 * routes, and each selected store's credential (present and of the right form; never echoed).
 */
export function gatewaySinkProblems(topology: Topology, inputs: BundleInputs): string[] {
  const problems: string[] = [];
  for (const level of topology.levels) {
    for (const w of level.workloads.filter((x) => x.type === 'data-gateway')) {
      const env = effectiveEnv(inputs, w);
      const routing = resolveRouting({ sinks: env.GATEWAY_SINKS, routes: env.GATEWAY_ROUTES, topic: 'telemetry', deadLetterTopic: 'deadletter' });
      const from = inputs.sinks ? 'parameter sinks' : `the topology's ${level.name}/${w.name} config`;
      problems.push(...routing.problems.map((p) => `${from}: ${p.replace(/GATEWAY_SINKS/g, 'sinks').replace(/GATEWAY_ROUTES/g, 'routes')}`));
      if (routing.sinks.includes('postgresql')) {
        if (!inputs.postgresUrl) problems.push(`sinks has postgresql: supply the postgres-url credential (postgres://user:password@host:5432/database) in your credential set (porter credentials edit <set>), then run the action again`);
        else if (!/^postgres(ql)?:\/\/[^\s/]+/.test(inputs.postgresUrl)) problems.push('credential postgres-url must be a postgres:// or postgresql:// URL (value not shown: it holds a password)');
      }
      if (routing.sinks.includes('eventhubs')) {
        const cs = inputs.eventHubsConnectionString;
        if (!cs) problems.push(`sinks has eventhubs: supply the eventhubs-connection-string credential (the event hub's "Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=<hub>") in your credential set, then run the action again`);
        else if (!/^Endpoint=sb:\/\/[^;]+;/i.test(cs) || !/;EntityPath=[^;]+/i.test(cs)) problems.push('credential eventhubs-connection-string must look like Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=<hub> (a hub-level connection string; value not shown)');
      }
    }
  }
  return problems;
}

export function renderGatewaySinks(inputs: BundleInputs, w: Workload): GatewaySinksRender {
  const env = effectiveEnv(inputs, w);
  const routing = resolveRouting({ sinks: env.GATEWAY_SINKS, routes: env.GATEWAY_ROUTES, topic: 'telemetry', deadLetterTopic: 'deadletter' });
  if (routing.problems.length) throw new Error(`data-gateway ${w.name}: ${routing.problems.join('; ')}`); // checked in prepare()
  delete env.GATEWAY_SINKS;
  const out: GatewaySinksRender = { sinks: routing.sinks, env, values: { sinks: routing.sinks }, secrets: [], resources: [] };
  if (routing.sinks.includes('postgresql')) {
    const name = `${w.name}-postgres`;
    out.secrets.push({ name, stringData: { url: inputs.postgresUrl ?? '' } });
    out.values.postgresql = { urlSecret: { name, key: 'url' } };
  }
  if (routing.sinks.includes('eventhubs')) {
    const name = `${w.name}-eventhubs`;
    const bindingName = env.GATEWAY_EVENTHUBS_BINDING ?? 'eventhubs';
    out.secrets.push({ name, stringData: { connectionString: inputs.eventHubsConnectionString ?? '' } });
    out.resources.push(
      eventHubsBinding({ componentName: bindingName, appId: w.name, connectionStringSecret: { name, key: 'connectionString' } }),
      gatewaySinkResiliency(w.name, [bindingName]),
    );
  }
  return out;
}

/**
 * Run first, before the infra step: a bad selection or a missing credential is refused before
 * Azure or any cluster is touched. Uninstall and rotate-certs (brokers only) need neither.
 */
export function checkGatewaySinks(inputs: BundleInputs): void {
  if (inputs.action === 'uninstall' || inputs.action === 'rotate-certs') return;
  const problems = gatewaySinkProblems(loadTopology(inputs.topologyFile), inputs);
  if (problems.length > 0) throw new InputError(problems);
}

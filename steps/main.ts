// The bundle's step entry point, run by Porter's exec mixin:
//   node /cnab/app/dist/steps/main.js <install|upgrade|uninstall|rotate-certs>
// Progress goes to stderr; stdout carries exactly one JSON document (the `summary` output).
// Errors become exit codes here and nowhere else.
import { InputError, readInputs } from '../src/kubernetes/inputs.js';
import { installOrUpgrade, prepare, rotateCertificates, uninstall } from '../src/kubernetes/deploy.js';
import { checkGatewaySinks } from '../src/kubernetes/gateway-sinks.js';
import { TopologyError } from '../src/topology/parse.js';
import { infra } from './infra.js';

const progress = (msg: string): void => void process.stderr.write(`[edge] ${msg}\n`);

async function main(action: string | undefined): Promise<void> {
  const inputs = readInputs(action);
  checkGatewaySinks(inputs); // the stores and their credentials, before anything is touched
  progress(`${inputs.action}: topology ${inputs.topologyFile}`);
  const kubeconfigs = await infra(inputs, progress);
  // Everything is checked before anything changes: inputs, topology, every cluster.
  const ctx = await prepare(inputs, progress, kubeconfigs);
  const extraDapr = process.env.EDGE_DAPR_VALUES ? (JSON.parse(process.env.EDGE_DAPR_VALUES) as Record<string, unknown>) : {};
  const report = inputs.action === 'uninstall' ? await uninstall(ctx) : inputs.action === 'rotate-certs' ? await rotateCertificates(ctx) : await installOrUpgrade(ctx, extraDapr);
  progress(`${inputs.action} done in ${report.durationS.toFixed(1)} s: ${report.changes === 0 ? 'nothing changed' : `${report.changes} change(s)`}`);
  process.stdout.write(JSON.stringify(report) + '\n');
}

main(process.argv[2]).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`[edge] error: ${message}\n`);
  process.stdout.write(JSON.stringify({ action: process.argv[2] ?? null, error: message }) + '\n');
  process.exit(err instanceof InputError || err instanceof TopologyError ? 2 : 1);
});

// Infra layer: which kubeconfig each level uses.
// - infra=kubeconfig: the kubeconfigs come from the credential set.
// - infra=aks: one AKS cluster, got or created with the Azure service principal (src/kubernetes/
//   aks.ts); its admin kubeconfig serves every level and is removed when the step ends.
//
// EDGE_ARM_ENDPOINT / EDGE_AZURE_AUTHORITY_HOST (read by readInputs) point the Azure calls at a
// sovereign cloud, or at the contract test's FAKE ARM endpoint (test/aks-contract.test.ts).
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { aksKubeconfigs } from '../src/kubernetes/aks.js';
import type { BundleInputs } from '../src/kubernetes/inputs.js';

export async function infra(inputs: BundleInputs, progress: (m: string) => void): Promise<Record<string, string>> {
  if (inputs.infra === 'aks') {
    const kubeconfigs = await aksKubeconfigs(inputs, progress, { armEndpoint: inputs.azure.armEndpoint, authorityHost: inputs.azure.authorityHost });
    // The admin kubeconfig is a cluster-admin secret: it lives only as long as this step.
    for (const path of Object.values(kubeconfigs)) process.once('exit', () => rmSync(dirname(path), { recursive: true, force: true }));
    return kubeconfigs;
  }
  progress(`infra: using kubeconfig credentials ${Object.keys(inputs.kubeconfigs).join(', ')}`);
  return inputs.kubeconfigs;
}

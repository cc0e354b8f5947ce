// Infra layer: which kubeconfig each level uses. With infra=kubeconfig they come from the
// credential set; infra=aks (create or get an AKS cluster) is not available in this version.
import type { BundleInputs } from '../src/kubernetes/inputs.js';

export async function infra(inputs: BundleInputs, progress: (m: string) => void): Promise<Record<string, string>> {
  if (inputs.infra === 'aks') {
    throw new Error('infra=aks is not available in this version of the bundle: create the cluster yourself and pass its kubeconfig with infra=kubeconfig');
  }
  progress(`infra: using kubeconfig credentials ${Object.keys(inputs.kubeconfigs).join(', ')}`);
  return inputs.kubeconfigs;
}

// The versions tools/build-k8s-tools.sh builds. Keep in sync with the pins at the top of
// that script (test/testcluster.test.ts checks that they agree).

/** k8s.io/kubernetes: what the test API server reports as gitVersion. */
export const K8S_VERSION = 'v1.37.2';
/** go.etcd.io/etcd/server/v3, the version k8s.io/kubernetes v1.37.2 requires. */
export const ETCD_VERSION = 'v3.7.0';
/** sigs.k8s.io/kwok */
export const KWOK_VERSION = 'v0.8.0';
/** helm.sh/helm/v3 */
export const HELM_VERSION = 'v3.22.0';

// The versions tools/build-k8s-tools.sh and tools/build-node-images.sh build. Keep in sync with
// the pins at the top of those scripts (test/testcluster.test.ts checks that they agree).

/** k8s.io/kubernetes: what the test API server reports as gitVersion. */
export const K8S_VERSION = 'v1.37.2';
/** go.etcd.io/etcd/server/v3, the version k8s.io/kubernetes v1.37.2 requires. */
export const ETCD_VERSION = 'v3.7.0';
/** sigs.k8s.io/kwok */
export const KWOK_VERSION = 'v0.8.0';
/** helm.sh/helm/v3 */
export const HELM_VERSION = 'v3.22.0';
/** github.com/coredns/coredns: the real node's cluster DNS (tools/build-k8s-tools.sh). */
export const COREDNS_VERSION = 'v1.15.0';
/** github.com/cloudnativelabs/kube-router/v2: NetworkPolicy on the real node (tools/build-k8s-tools.sh). */
export const KUBE_ROUTER_VERSION = 'v2.1.0';
/** The pause image's tag: build/pause's TAG in k8s.io/kubernetes K8S_VERSION (tools/build-node-images.sh). */
export const PAUSE_VERSION = '3.10.2';

// CoreDNS for the real node: pods' resolv.conf points at the cluster DNS, so Service names resolve
// only through it. No `forward` plugin: nothing outside cluster.local is resolved, and nothing
// is ever asked of the machine's resolver.
import type { KubernetesObject } from '@kubernetes/client-node';

export const COREDNS_LABELS = { 'k8s-app': 'kube-dns' };
/**
 * Port 53 in the pod too, as on AKS and most clusters: a NetworkPolicy's egress ports match the
 * pod's port after the Service's DNAT, and the charts allow DNS on 53. CoreDNS stays non-root:
 * the pod's (safe, namespaced) sysctl lets it bind 53.
 */
const PORT = 53;

export function corefile(): string {
  return [
    `.:${PORT} {`,
    '    errors',
    '    health :8080',
    '    ready :8181',
    '    kubernetes cluster.local in-addr.arpa ip6.arpa {',
    '        pods insecure',
    '        fallthrough in-addr.arpa ip6.arpa',
    '    }',
    '    cache 30',
    '}',
    '',
  ].join('\n');
}

export function corednsObjects(image: string, dnsIp: string): KubernetesObject[] {
  const ns = 'kube-system';
  const meta = (name: string) => ({ name, namespace: ns, labels: COREDNS_LABELS });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('coredns') },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns' },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: ns }],
    } as KubernetesObject,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta('coredns'), data: { Corefile: corefile() } } as KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta('coredns'),
      spec: {
        replicas: 1,
        selector: { matchLabels: COREDNS_LABELS },
        template: {
          metadata: { labels: COREDNS_LABELS },
          spec: {
            serviceAccountName: 'coredns',
            priorityClassName: 'system-cluster-critical',
            // Default: the node's (empty) resolv.conf, not the cluster DNS it serves itself.
            dnsPolicy: 'Default',
            securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: String(PORT) }] },
            containers: [
              {
                name: 'coredns',
                image,
                imagePullPolicy: 'Never',
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: PORT, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: PORT, protocol: 'TCP' },
                ],
                resources: { requests: { cpu: '20m', memory: '32Mi' }, limits: { memory: '128Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 10 },
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 2 },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
          },
        },
      },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta('kube-dns'),
      spec: {
        clusterIP: dnsIp,
        selector: COREDNS_LABELS,
        ports: [
          { name: 'dns', port: 53, targetPort: PORT, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, targetPort: PORT, protocol: 'TCP' },
        ],
      },
    } as KubernetesObject,
  ];
}

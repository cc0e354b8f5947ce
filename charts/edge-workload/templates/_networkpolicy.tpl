{{/*
edge-workload.networkpolicy: the workload's pods admit connections only from pods of their own
namespace (their level) and from the node (kubelet probes). A level is entered only through its
broker's children listener, its proxy and its collector, whose charts have their own policies;
nothing in another level reaches a workload or its sidecar. Egress is left to those charts'
policies and to the brokers' ACLs. Add a NetworkPolicy of your own to admit more (they add up).

Call it with the application chart's root context.
*/}}
{{- define "edge-workload.networkpolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "edge-workload.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "edge-workload.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "edge-workload.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
  ingress:
    - from:
        - podSelector: {}
{{- end }}

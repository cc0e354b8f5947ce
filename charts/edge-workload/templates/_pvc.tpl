{{/*
edge-workload.pvc: a ReadWriteOnce PersistentVolumeClaim named <fullname>-<suffix>.

Call it with a dict:
  ctx          the application chart's root context (required)
  suffix       name suffix, e.g. "data" (required)
  persistence  {size, storageClass, keep}: storageClass "" uses the cluster default, "-" sets
               storageClassName "" (no dynamic provisioning); keep adds
               helm.sh/resource-policy: keep so `helm uninstall` leaves the claim and its data
*/}}
{{- define "edge-workload.pvc" -}}
{{- $ctx := .ctx }}
{{- $p := .persistence }}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ printf "%s-%s" (include "edge-workload.fullname" $ctx) .suffix }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "edge-workload.labels" $ctx | nindent 4 }}
  {{- if $p.keep }}
  annotations:
    helm.sh/resource-policy: keep
  {{- end }}
spec:
  accessModes:
    - ReadWriteOnce
  {{- if eq $p.storageClass "-" }}
  storageClassName: ""
  {{- else if $p.storageClass }}
  storageClassName: {{ $p.storageClass | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ $p.size | quote }}
{{- end }}

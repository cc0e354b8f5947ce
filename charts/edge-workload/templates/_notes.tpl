{{/*
edge-workload.notes: the common part of a workload chart's NOTES.txt, with copy-pasteable
commands. Call it with a dict:
  ctx         the application chart's root context (required)
  httpHealth  true when the workload serves GET /healthz and /readyz on health.port
*/}}
{{- define "edge-workload.notes" -}}
{{- $httpHealth := .httpHealth }}
{{- with .ctx }}
{{- $ns := .Release.Namespace }}
{{- $fullname := include "edge-workload.fullname" . }}
{{- $selector := printf "app.kubernetes.io/name=%s,app.kubernetes.io/instance=%s" (include "edge-workload.name" .) .Release.Name }}
{{ .Chart.Name }} {{ .Chart.AppVersion }} runs at level {{ include "edge-workload.level" . }} as deployment/{{ $fullname }} in namespace {{ $ns }}
(app id {{ include "edge-workload.appId" . }}{{ if .Values.dapr.enabled }}, pub/sub component {{ include "edge-workload.pubsubName" . }}{{ else }}, no Dapr sidecar{{ end }}).

Wait for it and list its pods:

  kubectl -n {{ $ns }} rollout status deployment/{{ $fullname }} --timeout=180s
  kubectl -n {{ $ns }} get pods -l {{ $selector }}

Logs of the workload{{ if .Values.dapr.enabled }} and of its Dapr sidecar{{ end }}:

  kubectl -n {{ $ns }} logs deployment/{{ $fullname }} -c {{ .Chart.Name }}
{{- if .Values.dapr.enabled }}
  kubectl -n {{ $ns }} logs deployment/{{ $fullname }} -c daprd
{{- end }}
{{- if $httpHealth }}

Its readiness (the port-forward runs in the background: `kill %1` stops it):

  kubectl -n {{ $ns }} port-forward deployment/{{ $fullname }} {{ .Values.health.port }}:{{ .Values.health.port }} &
  curl -fsS http://127.0.0.1:{{ .Values.health.port }}/readyz
{{- end }}
{{- end }}
{{- end }}

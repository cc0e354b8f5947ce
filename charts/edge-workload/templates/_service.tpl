{{/*
edge-workload.service: a ClusterIP Service in front of one workload.

Call it with a dict:
  ctx    the application chart's root context (required)
  ports  list of {name, port, targetPort} (required, at least one)
*/}}
{{- define "edge-workload.service" -}}
{{- $ctx := .ctx }}
{{- if not .ports }}
{{- fail (printf "%s: edge-workload.service needs at least one port" $ctx.Chart.Name) }}
{{- end }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "edge-workload.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "edge-workload.labels" $ctx | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "edge-workload.selectorLabels" $ctx | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ int .port }}
      targetPort: {{ .targetPort | default .name }}
      protocol: TCP
    {{- end }}
{{- end }}

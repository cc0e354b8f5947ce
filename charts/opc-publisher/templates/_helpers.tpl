{{/*
opc-publisher helpers, in `helm create` style. They delegate to the edge-workload library chart so that
every workload chart names and labels its objects the same way.
*/}}

{{/*
Expand the name of the chart.
*/}}
{{- define "opc-publisher.name" -}}
{{- include "edge-workload.name" . }}
{{- end }}

{{/*
Create a default fully qualified app name (truncated at 63 chars; the release name alone when it
contains the chart name).
*/}}
{{- define "opc-publisher.fullname" -}}
{{- include "edge-workload.fullname" . }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "opc-publisher.chart" -}}
{{- include "edge-workload.chart" . }}
{{- end }}

{{/*
Common labels: app.kubernetes.io/{name,instance,version,managed-by,part-of}, helm.sh/chart and
edge.example/level.
*/}}
{{- define "opc-publisher.labels" -}}
{{- include "edge-workload.labels" . }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "opc-publisher.selectorLabels" -}}
{{- include "edge-workload.selectorLabels" . }}
{{- end }}

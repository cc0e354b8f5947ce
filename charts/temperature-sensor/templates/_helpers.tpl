{{/*
temperature-sensor helpers, in `helm create` style. They delegate to the edge-workload library chart so that
every workload chart names and labels its objects the same way.
*/}}

{{/*
Expand the name of the chart.
*/}}
{{- define "temperature-sensor.name" -}}
{{- include "edge-workload.name" . }}
{{- end }}

{{/*
Create a default fully qualified app name (truncated at 63 chars; the release name alone when it
contains the chart name).
*/}}
{{- define "temperature-sensor.fullname" -}}
{{- include "edge-workload.fullname" . }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "temperature-sensor.chart" -}}
{{- include "edge-workload.chart" . }}
{{- end }}

{{/*
Common labels: app.kubernetes.io/{name,instance,version,managed-by,part-of}, helm.sh/chart and
edge.example/level.
*/}}
{{- define "temperature-sensor.labels" -}}
{{- include "edge-workload.labels" . }}
{{- end }}

{{/*
Selector labels: name and instance only.
*/}}
{{- define "temperature-sensor.selectorLabels" -}}
{{- include "edge-workload.selectorLabels" . }}
{{- end }}

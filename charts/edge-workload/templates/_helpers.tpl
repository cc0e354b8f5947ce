{{/*
edge-workload: helpers shared by every workload chart. They are included with the application
chart's root context, so .Chart and .Values are the application chart's own.
*/}}

{{/*
Expand the name of the chart.
*/}}
{{- define "edge-workload.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "edge-workload.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "edge-workload.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The ISA-95 level name (l2, l3, l4, ...). Required: it is part of every label set.
*/}}
{{- define "edge-workload.level" -}}
{{- $level := .Values.level.name | default "" }}
{{- if not $level }}
{{- fail (printf "%s: level.name is required: the ISA-95 level this workload runs at, e.g. --set level.name=l2" .Chart.Name) }}
{{- end }}
{{- $level }}
{{- end }}

{{/*
Common labels. app.kubernetes.io/part-of is what the uninstall step selects on.
*/}}
{{- define "edge-workload.labels" -}}
helm.sh/chart: {{ include "edge-workload.chart" . }}
{{ include "edge-workload.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nested-edge
edge.example/level: {{ include "edge-workload.level" . | quote }}
{{- end }}

{{/*
Selector labels: name and instance only, so that a label added later never breaks an upgrade
(a Deployment's selector is immutable).
*/}}
{{- define "edge-workload.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edge-workload.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is given (what a relocated, air-gapped bundle
passes), else repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "edge-workload.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The Dapr app id, which is also the workload's EDGE_SOURCE and its MQTT consumer id: defaults to
the release name.
*/}}
{{- define "edge-workload.appId" -}}
{{- default .Release.Name .Values.appId }}
{{- end }}

{{/*
The Dapr pub/sub component this workload publishes or subscribes through.
*/}}
{{- define "edge-workload.pubsubName" -}}
{{- default (printf "pubsub-%s" (include "edge-workload.appId" .)) .Values.dapr.pubsubName }}
{{- end }}

{{/*
Cross-field checks shared by every workload chart. Renders nothing; fails with a message that
says what to change.
*/}}
{{- define "edge-workload.validate" -}}
{{- $chart := .Chart.Name }}
{{- $_ := include "edge-workload.level" . }}
{{- $daprPorts := list 3500 3501 9090 50001 50002 }}
{{- $health := int .Values.health.port }}
{{- $appPort := int .Values.dapr.appPort }}
{{- if and .Values.dapr.enabled (has $health $daprPorts) }}
{{- fail (printf "%s: health.port %d is taken by the Dapr sidecar (it uses %s): pick another port" $chart $health (join ", " $daprPorts)) }}
{{- end }}
{{- if gt $appPort 0 }}
{{- if not .Values.dapr.enabled }}
{{- fail (printf "%s: dapr.appPort is %d but dapr.enabled is false: the app port is where the Dapr sidecar calls the app; set dapr.appPort=0 or enable Dapr" $chart $appPort) }}
{{- end }}
{{- if eq $appPort $health }}
{{- fail (printf "%s: dapr.appPort and health.port are both %d: the app and its health server need different ports" $chart $appPort) }}
{{- end }}
{{- if has $appPort $daprPorts }}
{{- fail (printf "%s: dapr.appPort %d is taken by the Dapr sidecar (it uses %s): pick another port" $chart $appPort (join ", " $daprPorts)) }}
{{- end }}
{{- end }}
{{- end }}

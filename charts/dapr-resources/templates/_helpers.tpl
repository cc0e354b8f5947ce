{{/*
Expand the name of the chart.
*/}}
{{- define "dapr-resources.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "dapr-resources.fullname" -}}
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
{{- define "dapr-resources.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The ISA-95 level name (l2, l3, l4, ...). Required: it is part of every label set.
*/}}
{{- define "dapr-resources.level" -}}
{{- $level := .Values.level.name | default "" }}
{{- if not $level }}
{{- fail "dapr-resources: level.name is required: the ISA-95 level these Dapr resources belong to, e.g. --set level.name=l2" }}
{{- end }}
{{- $level }}
{{- end }}

{{/*
Common labels. app.kubernetes.io/part-of is what the uninstall step selects on.
*/}}
{{- define "dapr-resources.labels" -}}
helm.sh/chart: {{ include "dapr-resources.chart" . }}
{{ include "dapr-resources.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nested-edge
edge.example/level: {{ include "dapr-resources.level" . | quote }}
{{- end }}

{{/*
Selector labels: name and instance only, so that a label added later never breaks an upgrade
(a selector is immutable).
*/}}
{{- define "dapr-resources.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dapr-resources.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Dapr kinds this chart applies.
*/}}
{{- define "dapr-resources.kinds" -}}
Component Resiliency Configuration Subscription
{{- end }}

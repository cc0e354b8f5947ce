{{/*
Expand the name of the chart.
*/}}
{{- define "broker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "broker.fullname" -}}
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
{{- define "broker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The ISA-95 level name (l2, l3, l4, ...). Required: it is part of every label set.
*/}}
{{- define "broker.level" -}}
{{- $level := .Values.level.name | default "" }}
{{- if not $level }}
{{- fail "broker: level.name is required: the ISA-95 level this broker serves, e.g. --set level.name=l2" }}
{{- end }}
{{- $level }}
{{- end }}

{{/*
Common labels. app.kubernetes.io/part-of is what the uninstall step selects on.
*/}}
{{- define "broker.labels" -}}
helm.sh/chart: {{ include "broker.chart" . }}
{{ include "broker.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nested-edge
edge.example/level: {{ include "broker.level" . | quote }}
{{- end }}

{{/*
Selector labels: name and instance only, so that a label added later never breaks an upgrade
(a selector is immutable).
*/}}
{{- define "broker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "broker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is given (what a relocated, air-gapped bundle
passes), else repository:tag.
*/}}
{{- define "broker.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Pod labels: podLabels first, the standard labels win.
*/}}
{{- define "broker.podLabels" -}}
{{- toYaml (merge (include "broker.labels" . | fromYaml) (.Values.podLabels | default dict)) }}
{{- end }}

{{/*
Cross-field checks. Renders nothing; fails with a message that says what to change.
*/}}
{{- define "broker.validate" -}}
{{- $level := include "broker.level" . }}
{{- if not .Values.config.existingSecret }}
{{- fail "broker: config.existingSecret is required: the Secret (keys mosquitto.conf, passwd, acl) that the install step renders with the Mosquitto config generator" }}
{{- end }}
{{- if eq (int .Values.ports.workloads) (int .Values.ports.children) }}
{{- fail (printf "broker: ports.workloads and ports.children are both %d: the workloads' and the child levels' listeners need different ports" (int .Values.ports.workloads)) }}
{{- end }}
{{- if eq .Values.level.parent $level }}
{{- fail (printf "broker: level.parent is %s, the level itself: give the parent level's name, or empty for the top level" $level) }}
{{- end }}
{{- $np := .Values.networkPolicy }}
{{- if $np.enabled }}
{{- if and .Values.level.parent (not (or $np.parentNamespace $np.parentCIDR)) }}
{{- fail (printf "broker: level.parent is %s but networkPolicy has neither parentNamespace nor parentCIDR: the NetworkPolicy would block the bridge to the parent's broker; set one (or networkPolicy.enabled=false)" .Values.level.parent) }}
{{- end }}
{{- if and (not .Values.level.parent) (or $np.parentNamespace $np.parentCIDR) }}
{{- fail (printf "broker: networkPolicy.parentNamespace/parentCIDR are set but level.parent is empty: %s is the top level and bridges to no parent; set level.parent or clear them" $level) }}
{{- end }}
{{- end }}
{{- end }}

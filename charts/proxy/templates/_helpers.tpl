{{/*
Expand the name of the chart.
*/}}
{{- define "proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "proxy.fullname" -}}
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
{{- define "proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The ISA-95 level name (l2, l3, l4, ...). Required: it is part of every label set.
*/}}
{{- define "proxy.level" -}}
{{- $level := .Values.level.name | default "" }}
{{- if not $level }}
{{- fail "proxy: level.name is required: the ISA-95 level this proxy serves, e.g. --set level.name=l2" }}
{{- end }}
{{- $level }}
{{- end }}

{{/*
Common labels. app.kubernetes.io/part-of is what the uninstall step selects on.
*/}}
{{- define "proxy.labels" -}}
helm.sh/chart: {{ include "proxy.chart" . }}
{{ include "proxy.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nested-edge
edge.example/level: {{ include "proxy.level" . | quote }}
{{- end }}

{{/*
Selector labels: name and instance only, so that a label added later never breaks an upgrade
(a selector is immutable).
*/}}
{{- define "proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is given (what a relocated, air-gapped bundle
passes), else repository:tag.
*/}}
{{- define "proxy.image" -}}
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
{{- define "proxy.podLabels" -}}
{{- toYaml (merge (include "proxy.labels" . | fromYaml) (.Values.podLabels | default dict)) }}
{{- end }}

{{/*
Cross-field checks. Renders nothing; fails with a message that says what to change.
*/}}
{{- define "proxy.validate" -}}
{{- $_ := include "proxy.level" . }}
{{- $conf := .Values.config.squidConf | default "" }}
{{- if not (trim $conf) }}
{{- fail "proxy: config.squidConf is required: the squid.conf that the install step renders with the Squid config generator" }}
{{- end }}
{{- $httpPorts := regexFindAll "(?m)^[ \\t]*http_port[ \\t]+\\S+" $conf -1 }}
{{- if not $httpPorts }}
{{- fail "proxy: config.squidConf has no http_port line: Squid would listen on its default 3128 whatever `port` says" }}
{{- end }}
{{- range $httpPorts }}
{{- $listen := regexReplaceAll "^[ \\t]*http_port[ \\t]+" . "" }}
{{- $listenPort := regexReplaceAll "^.*:" $listen "" }}
{{- if ne $listenPort (toString (int $.Values.port)) }}
{{- fail (printf "proxy: config.squidConf listens on %s but port is %d: render squid.conf with port %d, or set port=%s" $listen (int $.Values.port) (int $.Values.port) $listenPort) }}
{{- end }}
{{- end }}
{{- end }}

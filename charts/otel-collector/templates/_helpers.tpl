{{/*
Expand the name of the chart.
*/}}
{{- define "otel-collector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "otel-collector.fullname" -}}
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
{{- define "otel-collector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The ISA-95 level name (l2, l3, l4, ...). Required: it is part of every label set.
*/}}
{{- define "otel-collector.level" -}}
{{- $level := .Values.level.name | default "" }}
{{- if not $level }}
{{- fail "otel-collector: level.name is required: the ISA-95 level this collector serves, e.g. --set level.name=l2" }}
{{- end }}
{{- $level }}
{{- end }}

{{/*
Common labels. app.kubernetes.io/part-of is what the uninstall step selects on.
*/}}
{{- define "otel-collector.labels" -}}
helm.sh/chart: {{ include "otel-collector.chart" . }}
{{ include "otel-collector.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nested-edge
edge.example/level: {{ include "otel-collector.level" . | quote }}
{{- end }}

{{/*
Selector labels: name and instance only, so that a label added later never breaks an upgrade
(a selector is immutable).
*/}}
{{- define "otel-collector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otel-collector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is given (what a relocated, air-gapped bundle
passes), else repository:tag.
*/}}
{{- define "otel-collector.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Pod labels: podLabels first, the standard labels win. With egressProxy.enabled the pod may use the
level's egress proxy (its NetworkPolicy admits pods labelled edge.example/proxy-client=true).
*/}}
{{- define "otel-collector.podLabels" -}}
{{- $labels := merge (include "otel-collector.labels" . | fromYaml) (.Values.podLabels | default dict) }}
{{- if .Values.egressProxy.enabled }}
{{- $_ := set $labels "edge.example/proxy-client" "true" }}
{{- end }}
{{- toYaml $labels }}
{{- end }}

{{/*
Cross-field checks. Renders nothing; fails with a message that says what to change.
*/}}
{{- define "otel-collector.validate" -}}
{{- $level := include "otel-collector.level" . }}
{{- $conf := .Values.config.collectorYaml | default "" }}
{{- if not (trim $conf) }}
{{- fail "otel-collector: config.collectorYaml is required: the collector configuration that the install step renders with the OpenTelemetry Collector config generator" }}
{{- end }}
{{- $p := .Values.ports }}
{{- if or (eq (int $p.grpc) (int $p.http)) (eq (int $p.grpc) (int $p.children)) (eq (int $p.http) (int $p.children)) (has (int $p.metrics) (list (int $p.grpc) (int $p.http) (int $p.children))) }}
{{- fail (printf "otel-collector: ports.grpc, ports.http, ports.children and ports.metrics must all differ (got %d, %d, %d, %d)" (int $p.grpc) (int $p.http) (int $p.children) (int $p.metrics)) }}
{{- end }}
{{- /* The receivers must listen where the Service and the probes send: the ports' numbers in the config. */}}
{{- $cfg := fromYaml $conf }}
{{- if hasKey $cfg "Error" }}
{{- fail (printf "otel-collector: config.collectorYaml is not YAML: %s" (get $cfg "Error")) }}
{{- end }}
{{- $listen := list }}
{{- range $_, $receiver := ($cfg.receivers | default dict) }}
{{- range $_, $protocol := ((($receiver | default dict).protocols) | default dict) }}
{{- $listen = append $listen (regexReplaceAll "^.*:" (toString (($protocol | default dict).endpoint)) "") }}
{{- end }}
{{- end }}
{{- range $what, $port := dict "ports.grpc" $p.grpc "ports.http" $p.http }}
{{- if not (has (toString (int $port)) $listen) }}
{{- fail (printf "otel-collector: config.collectorYaml has no receiver endpoint on port %d (%s): render the config with that port, or change %s" (int $port) $what $what) }}
{{- end }}
{{- end }}
{{- $np := .Values.networkPolicy }}
{{- if and (or $np.childNamespaces $np.childCIDRs) (not (has (toString (int $p.children)) $listen)) }}
{{- fail (printf "otel-collector: networkPolicy admits child levels but config.collectorYaml has no receiver on ports.children (%d): render the config with the child receiver on that port" (int $p.children)) }}
{{- end }}
{{- if and (contains "/etc/otelcol-tls/" $conf) (not .Values.tls.existingSecret) }}
{{- fail "otel-collector: config.collectorYaml refers to TLS files under /etc/otelcol-tls/ but tls.existingSecret is empty: name the Secret holding them (keys trust.crt, server.crt, server.key, client.crt, client.key)" }}
{{- end }}
{{- if eq .Values.level.parent $level }}
{{- fail (printf "otel-collector: level.parent is %s, the level itself: give the parent level's name, or empty for the top level" $level) }}
{{- end }}
{{- if and .Values.level.parent .Values.persistence.enabled }}
{{- fail (printf "otel-collector: persistence.enabled is for the top level's file exporter, but level %s forwards to its parent %s and writes no file: set persistence.enabled=false" $level .Values.level.parent) }}
{{- end }}
{{- if and .Values.egressProxy.url (not .Values.egressProxy.enabled) }}
{{- fail "otel-collector: egressProxy.url is set but egressProxy.enabled is false: the NetworkPolicy would block the collector's way to the proxy; set egressProxy.enabled=true or clear the url" }}
{{- end }}
{{- if $np.enabled }}
{{- if and .Values.level.parent (not (or $np.parentNamespace $np.parentCIDR)) }}
{{- fail (printf "otel-collector: level.parent is %s but networkPolicy has neither parentNamespace nor parentCIDR: the NetworkPolicy would block the export to the parent's collector; set one (or networkPolicy.enabled=false)" .Values.level.parent) }}
{{- end }}
{{- if and (not .Values.level.parent) (or $np.parentNamespace $np.parentCIDR) }}
{{- fail (printf "otel-collector: networkPolicy.parentNamespace/parentCIDR are set but level.parent is empty: %s is the top level and exports to no parent; set level.parent or clear them" $level) }}
{{- end }}
{{- end }}
{{- end }}

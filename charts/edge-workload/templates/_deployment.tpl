{{/*
edge-workload.deployment: the Deployment of one workload (its container, plus the Dapr sidecar the
Dapr injector adds when dapr.enabled).

Call it with a dict:
  ctx          the application chart's root context (required)
  env          dict of chart-fixed environment variables (e.g. OPC_PORT); the `env` value may
               repeat one only with the same value
  defaultEnv   dict of environment defaults that `env` values MAY override
  secretEnv    list of {name, secretName, key}: variables read from a Secret (secretKeyRef), so
               a credential never passes through values; `env` may not set these names
  ports        list of extra container ports ({name, containerPort})
  tcpProbePort name or number of a port to probe with tcpSocket instead of GET /healthz, /readyz
  volumes      list of extra pod volumes
  volumeMounts list of extra container volume mounts
  annotations  dict of extra pod annotations (e.g. a config checksum)
  strategy     "Recreate" for a workload with a ReadWriteOnce volume; default: one pod at a time
*/}}
{{- define "edge-workload.deployment" -}}
{{- $ctx := .ctx }}
{{- $v := $ctx.Values }}
{{- include "edge-workload.validate" $ctx }}
{{- $appId := include "edge-workload.appId" $ctx }}
{{- $appPort := int $v.dapr.appPort }}
{{- /* Environment: the chart sets some names itself; `env` may repeat one only with the same value. */}}
{{- $fixed := dict "EDGE_SOURCE" $appId "EDGE_LEVEL" (include "edge-workload.level" $ctx) "DAPR_HTTP_PORT" "3500" "PUBSUB_NAME" (include "edge-workload.pubsubName" $ctx) "HEALTH_PORT" (toString (int $v.health.port)) }}
{{- $fixed = merge $fixed (.env | default dict) }}
{{- range $key := keys ($v.env | default dict) | sortAlpha }}
{{- if and (hasKey $fixed $key) (ne (toString (get $v.env $key)) (toString (get $fixed $key))) }}
{{- fail (printf "%s: env.%s is %q but the chart sets it to %q (EDGE_SOURCE comes from appId, EDGE_LEVEL from level.name, PUBSUB_NAME from dapr.pubsubName, HEALTH_PORT from health.port, the rest from the chart's own values): remove it from env or change that value" $ctx.Chart.Name $key (toString (get $v.env $key)) (toString (get $fixed $key))) }}
{{- end }}
{{- end }}
{{- $env := merge (deepCopy $fixed) ($v.env | default dict) (.defaultEnv | default dict) }}
{{- range $s := (.secretEnv | default list) }}
{{- if hasKey $env $s.name }}
{{- fail (printf "%s: env.%s is set in values, but the chart reads it from Secret %s (key %s): a credential never goes through values; remove it from env" $ctx.Chart.Name $s.name $s.secretName $s.key) }}
{{- end }}
{{- end }}
{{- /* Pod labels: the standard labels win over podLabels; Dapr workloads may reach the broker. */}}
{{- $podLabels := merge (include "edge-workload.labels" $ctx | fromYaml) ($v.podLabels | default dict) }}
{{- if $v.dapr.enabled }}
{{- $_ := set $podLabels "edge.example/broker-client" "true" }}
{{- end }}
{{- /* Pod annotations: Dapr's come from dapr.*, never from podAnnotations. */}}
{{- $annotations := merge (dict) (.annotations | default dict) }}
{{- if $v.dapr.enabled }}
{{- $_ := set $annotations "dapr.io/enabled" "true" }}
{{- $_ := set $annotations "dapr.io/app-id" $appId }}
{{- if gt $appPort 0 }}
{{- $_ := set $annotations "dapr.io/app-port" (toString $appPort) }}
{{- end }}
{{- if $v.dapr.config }}
{{- $_ := set $annotations "dapr.io/config" $v.dapr.config }}
{{- end }}
{{- $_ := set $annotations "dapr.io/log-level" $v.dapr.logLevel }}
{{- $_ := set $annotations "dapr.io/enable-metrics" (toString $v.dapr.enableMetrics) }}
{{- if $v.dapr.sidecarImage }}
{{- $_ := set $annotations "dapr.io/sidecar-image" $v.dapr.sidecarImage }}
{{- end }}
{{- end }}
{{- range $key, $_ := ($v.podAnnotations | default dict) }}
{{- if hasPrefix "dapr.io/" $key }}
{{- fail (printf "%s: podAnnotations.%s: Dapr annotations come from the dapr.* values" $ctx.Chart.Name $key) }}
{{- end }}
{{- end }}
{{- $annotations = merge $annotations ($v.podAnnotations | default dict) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "edge-workload.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "edge-workload.labels" $ctx | nindent 4 }}
spec:
  # One pod: the Dapr app id is the MQTT client id (a stable session that keeps queued messages),
  # and two clients with one id would take the session from each other.
  replicas: 1
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "edge-workload.selectorLabels" $ctx | nindent 6 }}
  strategy:
    {{- if eq (.strategy | default "") "Recreate" }}
    type: Recreate
    {{- else }}
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 0
      maxUnavailable: 1
    {{- end }}
  template:
    metadata:
      {{- with $annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      labels:
        {{- toYaml $podLabels | nindent 8 }}
    spec:
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      # The user is set on the workload's container, not the pod: an injected daprd (1.16)
      # refuses to start as anything but its image's user, 65532.
      securityContext:
        runAsNonRoot: true
        fsGroup: {{ int $v.podSecurityContext.fsGroup }}
        seccompProfile:
          type: RuntimeDefault
      terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ $ctx.Chart.Name }}
          image: {{ include "edge-workload.image" $ctx | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            runAsUser: {{ int $v.podSecurityContext.runAsUser }}
            runAsGroup: {{ int $v.podSecurityContext.runAsGroup }}
            capabilities:
              drop:
                - ALL
          env:
            {{- range $key := keys $env | sortAlpha }}
            - name: {{ $key }}
              value: {{ get $env $key | toString | quote }}
            {{- end }}
            {{- range $s := (.secretEnv | default list) }}
            - name: {{ $s.name }}
              valueFrom:
                secretKeyRef:
                  name: {{ $s.secretName | quote }}
                  key: {{ $s.key | quote }}
            {{- end }}
          ports:
            - name: health
              containerPort: {{ int $v.health.port }}
              protocol: TCP
            {{- if gt $appPort 0 }}
            - name: app
              containerPort: {{ $appPort }}
              protocol: TCP
            {{- end }}
            {{- with .ports }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- if .tcpProbePort }}
          livenessProbe:
            tcpSocket:
              port: {{ .tcpProbePort }}
            initialDelaySeconds: 5
            periodSeconds: 10
            failureThreshold: 3
          readinessProbe:
            tcpSocket:
              port: {{ .tcpProbePort }}
            periodSeconds: 5
            failureThreshold: 3
          {{- else }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: health
            initialDelaySeconds: 5
            periodSeconds: 10
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: health
            periodSeconds: 5
            failureThreshold: 3
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            # the root filesystem is read-only: /tmp is the one scratch directory
            - name: tmp
              mountPath: /tmp
            {{- with .volumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
{{ include "edge-workload.networkpolicy" $ctx }}
{{- end }}

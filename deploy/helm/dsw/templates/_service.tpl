{{/*
Everything one service runs: the API (Deployment, Service, HorizontalPodAutoscaler,
PodDisruptionBudget), the optional outbox relay and each worker (Deployment, PodDisruptionBudget,
optional KEDA ScaledObject). Argument: dict root, name. Rendered by templates/services/<name>.yaml.
*/}}
{{- define "dsw.service" -}}
{{- $root := .root }}
{{- $name := .name }}
{{- $svc := index $root.Values.services $name }}
{{- if $svc.enabled }}
{{- $api := mergeOverwrite (deepCopy $root.Values.apiDefaults) ($svc.api | default dict) }}
{{- $apiName := include "dsw.workloadName" (dict "root" $root "service" $name) }}
{{- $apiSelector := include "dsw.selectorLabels" (dict "root" $root "service" $name "component" "api") }}
{{- $image := include "dsw.image" (dict "root" $root "name" $name "svc" $svc) }}
{{- $env := include "dsw.serviceEnv" (dict "root" $root "name" $name "svc" $svc "secretName" (include "dsw.secretName" $root)) }}
{{- $checksums := dict "config" (include "dsw.configData" $root | sha256sum) }}
{{- if not $root.Values.secrets.existingSecret }}
{{- $_ := set $checksums "secret" (include "dsw.secretData" $root | sha256sum) }}
{{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $apiName }}
  labels:
    {{- include "dsw.metaLabels" $root | nindent 4 }}
    {{- $apiSelector | nindent 4 }}
spec:
  {{- if not $api.autoscaling.enabled }}
  replicas: {{ $api.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 25%
  selector:
    matchLabels:
      {{- $apiSelector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "dsw.metaLabels" $root | nindent 8 }}
        {{- $apiSelector | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ $checksums.config }}
        {{- with $checksums.secret }}
        checksum/secret: {{ . }}
        {{- end }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $svc.port | int | toString | quote }}
        prometheus.io/path: /metrics
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "dsw.serviceAccountName" $root }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      {{- include "dsw.podCommon" (dict "root" $root) | nindent 6 }}
      {{- include "dsw.spread" (dict "root" $root "selector" $apiSelector) | nindent 6 }}
      containers:
        - name: api
          image: {{ $image }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["api", "--host", "0.0.0.0", "--port", {{ $svc.port | int | toString | quote }}]
          ports:
            - name: http
              containerPort: {{ $svc.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "dsw.fullname" $root }}
          env:
            {{- $env | nindent 12 }}
          startupProbe:
            httpGet: {path: /healthz, port: http}
            {{- toYaml $api.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            {{- toYaml $api.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet: {path: /readyz, port: http}
            {{- toYaml $api.probes.readiness | nindent 12 }}
          resources:
            {{- toYaml $api.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "dsw.volumeMounts" $root | nindent 12 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $apiName }}
  labels:
    {{- include "dsw.metaLabels" $root | nindent 4 }}
    {{- $apiSelector | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- $apiSelector | nindent 4 }}
  ports:
    - name: http
      port: {{ $svc.port }}
      targetPort: http
      protocol: TCP
---
{{ include "dsw.pdb" (dict "root" $root "name" $apiName "selector" $apiSelector "pdb" $api.pdb) }}
{{- if $api.autoscaling.enabled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $apiName }}
  labels:
    {{- include "dsw.metaLabels" $root | nindent 4 }}
    {{- $apiSelector | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $apiName }}
  minReplicas: {{ $api.autoscaling.minReplicas }}
  maxReplicas: {{ $api.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $api.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- /* Background processes: the relay (when not embedded) and the workers. */}}
{{- $background := list }}
{{- $relay := mergeOverwrite (deepCopy $root.Values.relayDefaults) ($svc.relay | default dict) }}
{{- if $relay.enabled }}
{{- $background = append $background (dict "component" "relay" "worker" "" "suffix" "relay" "args" (list "relay") "config" $relay) }}
{{- end }}
{{- range $workerName, $overrides := ($svc.workers | default dict) }}
{{- $worker := mergeOverwrite (deepCopy $root.Values.workerDefaults) ($overrides | default dict) }}
{{- $background = append $background (dict "component" "worker" "worker" $workerName "suffix" (printf "worker-%s" $workerName) "args" (list "worker" $workerName) "config" $worker) }}
{{- end }}
{{- range $process := $background }}
{{- $config := $process.config }}
{{- $workloadName := include "dsw.workloadName" (dict "root" $root "service" $name "suffix" $process.suffix) }}
{{- $selector := include "dsw.selectorLabels" (dict "root" $root "service" $name "component" $process.component "worker" $process.worker) }}
{{- $keda := $config.keda | default dict }}
{{- $trigger := $keda.trigger | default "kafka" }}
{{- $scaled := and $keda.enabled (ne $trigger "none") }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $workloadName }}
  labels:
    {{- include "dsw.metaLabels" $root | nindent 4 }}
    {{- $selector | nindent 4 }}
spec:
  {{- if not $scaled }}
  replicas: {{ $config.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
      maxSurge: 0
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "dsw.metaLabels" $root | nindent 8 }}
        {{- $selector | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ $checksums.config }}
        {{- with $checksums.secret }}
        checksum/secret: {{ . }}
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "dsw.serviceAccountName" $root }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      {{- include "dsw.podCommon" (dict "root" $root) | nindent 6 }}
      {{- include "dsw.spread" (dict "root" $root "selector" $selector) | nindent 6 }}
      containers:
        - name: {{ $process.component }}
          image: {{ $image }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: {{ toJson $process.args }}
          envFrom:
            - configMapRef:
                name: {{ include "dsw.fullname" $root }}
          env:
            {{- $env | nindent 12 }}
          resources:
            {{- toYaml $config.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "dsw.volumeMounts" $root | nindent 12 }}
---
{{ include "dsw.pdb" (dict "root" $root "name" $workloadName "selector" $selector "pdb" $config.pdb) }}
{{- if $scaled }}
---
# Scales the worker on what it consumes: its consumer group's lag (KEDA's Kafka scaler) or the open
# jobs of its work table (KEDA's PostgreSQL scaler, on the service's own database URL).
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $workloadName }}
  labels:
    {{- include "dsw.metaLabels" $root | nindent 4 }}
    {{- $selector | nindent 4 }}
spec:
  scaleTargetRef:
    name: {{ $workloadName }}
  minReplicaCount: {{ $keda.minReplicas }}
  maxReplicaCount: {{ $keda.maxReplicas }}
  pollingInterval: {{ $keda.pollingInterval }}
  cooldownPeriod: {{ $keda.cooldownPeriod }}
  triggers:
    {{- if eq $trigger "kafka" }}
    - type: kafka
      metadata:
        bootstrapServers: {{ $root.Values.config.kafka.bootstrap | quote }}
        consumerGroup: {{ printf "%s%s" ($root.Values.config.kafka.groupPrefix | default "") (required (printf "services.%s.workers.%s.keda.consumerGroup is required for the kafka trigger" $name $process.worker) $keda.consumerGroup) | quote }}
        topic: {{ required (printf "services.%s.workers.%s.keda.topic is required for the kafka trigger" $name $process.worker) $keda.topic | quote }}
        lagThreshold: {{ $keda.lagThreshold | int | toString | quote }}
        offsetResetPolicy: earliest
    {{- else if eq $trigger "postgresql" }}
    - type: postgresql
      metadata:
        connectionFromEnv: {{ printf "DSW_%s_DATABASE_URL" (upper $name) }}
        query: {{ required (printf "services.%s.workers.%s.keda.query is required for the postgresql trigger" $name $process.worker) $keda.query | quote }}
        targetQueryValue: {{ $keda.targetQueryValue | default 1 | int | toString | quote }}
    {{- else }}
    {{- fail (printf "services.%s.workers.%s.keda.trigger: kafka, postgresql or none" $name $process.worker) }}
    {{- end }}
      {{- with $keda.authenticationRef }}
      authenticationRef:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

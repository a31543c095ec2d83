{{/* Names and labels. */}}
{{- define "dsw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dsw.fullname" -}}
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

{{- define "dsw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource except the selector ones. */}}
{{- define "dsw.metaLabels" -}}
helm.sh/chart: {{ include "dsw.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dsw
{{- end }}

{{/* Labels of release-wide resources (ConfigMap, Secret, Ingress...). */}}
{{- define "dsw.labels" -}}
{{ include "dsw.metaLabels" . }}
app.kubernetes.io/name: {{ include "dsw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels that select one workload's pods. Argument: dict root, service, component[, worker]. */}}
{{- define "dsw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dsw.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
dsw.io/service: {{ .service }}
{{- with .worker }}
dsw.io/worker: {{ . }}
{{- end }}
{{- end }}

{{/* Name of one workload: <fullname>-<service>[-<suffix>]. Argument: dict root, service[, suffix]. */}}
{{- define "dsw.workloadName" -}}
{{- $base := printf "%s-%s" (include "dsw.fullname" .root) .service }}
{{- if .suffix }}{{ $base = printf "%s-%s" $base .suffix }}{{ end }}
{{- $base | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dsw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dsw.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the workloads read (yours, or the chart's). */}}
{{- define "dsw.secretName" -}}
{{- default (include "dsw.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret the migration hooks read: yours, or one created with the hooks (before the release's own). */}}
{{- define "dsw.migrationSecretName" -}}
{{- default (printf "%s-migrate" (include "dsw.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* Image of a service. Argument: dict root, name, svc. */}}
{{- define "dsw.image" -}}
{{- $image := .svc.image | default dict }}
{{- $registry := .root.Values.image.registry | default "" | trimSuffix "/" }}
{{- $default := ternary (printf "%s/dsw-%s" $registry .name) (printf "dsw-%s" .name) (ne $registry "") }}
{{- $repository := $image.repository | default $default }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (toString ($image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion)) }}
{{- end }}
{{- end }}

{{/* Settings every process gets (the ConfigMap; inlined in the migration hooks). config.extraEnv wins. */}}
{{- define "dsw.configData" -}}
{{- $c := .Values.config }}
{{- if and (eq $c.auth.algorithm "RS256") (not $c.auth.jwksUrl) (not $c.auth.publicKey) }}
{{- fail "config.auth.algorithm RS256 needs config.auth.jwksUrl or config.auth.publicKey" }}
{{- end }}
{{- $data := dict
  "DSW_ENVIRONMENT" $c.environment
  "DSW_HOME" "/var/lib/dsw"
  "DSW_LOG_LEVEL" $c.logLevel
  "DSW_LOG_JSON" ($c.logJson | toString)
  "DSW_KAFKA_BOOTSTRAP" (required "config.kafka.bootstrap is required" $c.kafka.bootstrap)
  "DSW_KAFKA_CLIENT_ID" $c.kafka.clientId
  "DSW_KAFKA_GROUP_PREFIX" ($c.kafka.groupPrefix | default "")
  "DSW_KAFKA_PARTITIONS" ($c.kafka.partitions | int | toString)
  "DSW_LAKE_URI" (required "config.lakeUri is required" $c.lakeUri)
  "DSW_MLFLOW_TRACKING_URI" (required "config.mlflowTrackingUri is required" $c.mlflowTrackingUri)
  "DSW_AUTH_ALGORITHM" $c.auth.algorithm
  "DSW_AUTH_ISSUER" $c.auth.issuer
  "DSW_AUTH_AUDIENCE" $c.auth.audience
}}
{{- with $c.auth.jwksUrl }}{{ $_ := set $data "DSW_AUTH_JWKS_URL" . }}{{ end }}
{{- with $c.auth.publicKey }}{{ $_ := set $data "DSW_AUTH_PUBLIC_KEY" . }}{{ end }}
{{- with $c.s3.endpointUrl }}{{ $_ := set $data "AWS_ENDPOINT_URL" . }}{{ end }}
{{- with $c.s3.region }}
{{- $_ := set $data "AWS_REGION" . }}
{{- $_ := set $data "AWS_DEFAULT_REGION" . }}
{{- end }}
{{- /* Service-to-service calls: DSW_<CALLER>_<CALLEE>_URL -> the callee's API Service. */}}
{{- $calls := dict "training" (list "catalog" "recipes") "scoring" (list "catalog" "training") "serving" (list "training" "scoring") }}
{{- range $caller, $callees := $calls }}
{{- range $callee := $callees }}
{{- $spec := index $.Values.services $callee }}
{{- if $spec.enabled }}
{{- $host := include "dsw.workloadName" (dict "root" $ "service" $callee) }}
{{- $_ := set $data (printf "DSW_%s_%s_URL" (upper $caller) (upper $callee)) (printf "http://%s:%d" $host ($spec.port | int)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $key, $value := $c.extraEnv }}
{{- $_ := set $data $key ($value | toString) }}
{{- end }}
{{- toYaml $data }}
{{- end }}

{{/*
The environment of one service's processes besides the ConfigMap: its own settings, its database URL
and the platform secrets. Argument: dict root, name, svc, secretName.
*/}}
{{- define "dsw.serviceEnv" -}}
{{- $prefix := printf "DSW_%s_" (upper .name) -}}
- name: {{ $prefix }}HOST
  value: "0.0.0.0"
- name: {{ $prefix }}PORT
  value: {{ .svc.port | int | toString | quote }}
- name: {{ $prefix }}MIGRATE_ON_START
  value: "false"
- name: {{ $prefix }}EMBEDDED_WORKERS
  value: "false"
- name: {{ $prefix }}EMBEDDED_RELAY
  value: {{ (not (.svc.relay | default dict).enabled) | toString | quote }}
- name: {{ $prefix }}DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ $prefix }}DATABASE_URL
{{- if eq .root.Values.config.auth.algorithm "HS256" }}
- name: DSW_AUTH_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: DSW_AUTH_SECRET
{{- end }}
{{- range $key := list "DSW_AUTH_PRIVATE_KEY" "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secretName }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- range $key, $value := .svc.extraEnv }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{- define "dsw.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: home
  mountPath: /var/lib/dsw
{{- end }}

{{- define "dsw.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
- name: home
  emptyDir:
    sizeLimit: {{ .Values.homeVolume.sizeLimit }}
{{- end }}

{{/* Pod-level fields every workload shares. Argument: dict root, selector (labels as YAML). */}}
{{- define "dsw.podCommon" -}}
{{- $root := .root -}}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automountToken }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "dsw.volumes" $root | nindent 2 }}
{{- end }}

{{- define "dsw.spread" -}}
{{- if .root.Values.spreadAcrossNodes -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- .selector | nindent 8 }}
{{- end }}
{{- end }}

{{/* The component's PodDisruptionBudget. Argument: dict root, name, selector, pdb. */}}
{{- define "dsw.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "dsw.metaLabels" .root | nindent 4 }}
    {{- .selector | nindent 4 }}
spec:
  {{- if hasKey .pdb "minAvailable" }}
  minAvailable: {{ .pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- .selector | nindent 6 }}
{{- end }}

{{/* The HS256 secret: the value given, the one already in the release's Secret, or a new one. */}}
{{- define "dsw.authSecretValue" -}}
{{- $given := .Values.secrets.authSecret | default "" }}
{{- if $given }}
{{- if and (eq .Values.config.environment "production") (lt (len $given) 32) }}
{{- fail "secrets.authSecret must have at least 32 characters in production (or use config.auth.algorithm RS256)" }}
{{- end }}
{{- $given }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "dsw.fullname" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "DSW_AUTH_SECRET") }}
{{- index $existing.data "DSW_AUTH_SECRET" | b64dec }}
{{- else }}
{{- randAlphaNum 48 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Database URL of a service. Argument: dict root, name. */}}
{{- define "dsw.databaseUrl" -}}
{{- $given := index (.root.Values.secrets.databaseUrls | default dict) .name }}
{{- if $given }}
{{- $given }}
{{- else }}
{{- $db := .root.Values.database }}
{{- $user := .name }}
{{- if $db.password }}{{ $user = printf "%s:%s" .name (urlquery $db.password) }}{{ end }}
{{- printf "postgresql://%s@%s:%d/%s?sslmode=%s" $user $db.host ($db.port | int) .name $db.sslmode }}
{{- end }}
{{- end }}

{{/* Data of the chart-created Secret (base64). Argument: root; pass dict root, databasesOnly for the hooks. */}}
{{- define "dsw.secretData" -}}
{{- $root := . }}
{{- range $name, $svc := $root.Values.services }}
{{- if $svc.enabled }}
DSW_{{ upper $name }}_DATABASE_URL: {{ include "dsw.databaseUrl" (dict "root" $root "name" $name) | b64enc | quote }}
{{- end }}
{{- end }}
{{- if eq $root.Values.config.auth.algorithm "HS256" }}
DSW_AUTH_SECRET: {{ include "dsw.authSecretValue" $root | b64enc | quote }}
{{- end }}
{{- with $root.Values.secrets.authPrivateKey }}
DSW_AUTH_PRIVATE_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- with $root.Values.secrets.s3AccessKeyId }}
AWS_ACCESS_KEY_ID: {{ . | b64enc | quote }}
{{- end }}
{{- with $root.Values.secrets.s3SecretAccessKey }}
AWS_SECRET_ACCESS_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Annotations of the resources the migration hooks need before the release's own exist. */}}
{{- define "dsw.hookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}

{{/* Egress every platform pod needs: DNS and the external Kafka, PostgreSQL, S3 and MLflow. */}}
{{- define "dsw.baseEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- with .Values.networkPolicy.externalEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}

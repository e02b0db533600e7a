{{/* Name of the chart, or nameOverride. */}}
{{- define "derrick-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: fullnameOverride, else release-chart (the release name alone when it contains the chart name). */}}
{{- define "derrick-bot.fullname" -}}
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

{{- define "derrick-bot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "derrick-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "derrick-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "derrick-bot.labels" -}}
helm.sh/chart: {{ include "derrick-bot.chart" . }}
{{ include "derrick-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: chatops-bot
{{- end }}

{{- define "derrick-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "derrick-bot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the cluster-scoped objects: unique per release and namespace. */}}
{{- define "derrick-bot.clusterName" -}}
{{- printf "%s-%s" (include "derrick-bot.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Namespace of the managed Deployment (APP_NAMESPACE). */}}
{{- define "derrick-bot.appNamespace" -}}
{{- default .Release.Namespace .Values.app.namespace }}
{{- end }}

{{/* The Secret with the tokens: existingSecret or the chart's. */}}
{{- define "derrick-bot.secretName" -}}
{{- default (include "derrick-bot.fullname" .) .Values.telegram.existingSecret }}
{{- end }}

{{- define "derrick-bot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Telegram ids as the bot reads them: comma-separated integers. int64
     keeps large ids exact (YAML numbers arrive as float64 and would print as
     8.123456789e+09). */}}
{{- define "derrick-bot.ids" -}}
{{- $ids := list }}
{{- range . }}{{ $ids = append $ids (int64 . | toString) }}{{ end }}
{{- join "," $ids }}
{{- end }}

{{/* Refuses an install that the bot would refuse at start-up, naming the value to set. */}}
{{- define "derrick-bot.validate" -}}
{{- if not (or .Values.telegram.token .Values.telegram.existingSecret) }}
{{- fail "telegram.token or telegram.existingSecret is required: the bot token from @BotFather" }}
{{- end }}
{{- if not (or .Values.chatops.operators .Values.chatops.viewers (not (kindIs "invalid" (.Values.chatops.group).id))) }}
{{- fail "chatops.operators, chatops.viewers or chatops.group.id is required: numeric Telegram user ids such as [123456789] (NOTES.txt says how to find yours), or the team's group id such as -1001234567890" }}
{{- end }}
{{- if and (eq .Values.registry.source "oci") (not .Values.registry.image) }}
{{- fail "registry.image is required for registry.source oci: the image reference without tag, such as registry.example.com/oil/app" }}
{{- end }}
{{- if eq .Values.registry.source "gitlab" }}
{{- if not (and .Values.registry.gitlab.url .Values.registry.gitlab.project) }}
{{- fail "registry.gitlab.url and registry.gitlab.project are required for registry.source gitlab" }}
{{- end }}
{{- if not (or .Values.registry.gitlab.token .Values.telegram.existingSecret) }}
{{- fail "registry.gitlab.token (or its key in telegram.existingSecret) is required for registry.source gitlab: a token with read_api" }}
{{- end }}
{{- end }}
{{- if and .Values.registry.username (not (or .Values.registry.password .Values.telegram.existingSecret)) }}
{{- fail "registry.password is required when registry.username is set" }}
{{- end }}
{{- if eq .Values.deploy.via "argocd" }}
{{- if not .Values.argocd.server }}
{{- fail "argocd.server is required for deploy.via argocd: the Argo CD API server's base URL, such as https://argocd.example.com" }}
{{- end }}
{{- if not (or .Values.argocd.authToken .Values.telegram.existingSecret) }}
{{- fail "argocd.authToken (or its key in telegram.existingSecret) is required for deploy.via argocd: an Argo CD API token (argocd account generate-token)" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when the bot runs with leader election: leaderElection.enabled, or replicaCount > 1. */}}
{{- define "derrick-bot.leaderElection" -}}
{{- if or (eq (toString .Values.leaderElection.enabled) "true") (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* Name of the leader Lease: leaderElection.leaseName, else <release>-bot. */}}
{{- define "derrick-bot.leaseName" -}}
{{- default (printf "%s-bot" .Release.Name | trunc 63 | trimSuffix "-") .Values.leaderElection.leaseName }}
{{- end }}

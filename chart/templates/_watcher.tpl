{{/* The pipeline watcher (watcher.enabled): `notifier watch` as a second
     container of the bot's pod. See values.yaml "watcher". */}}

{{/* Name of the watcher's state ConfigMap. */}}
{{- define "derrick-bot.watcherStateName" -}}
{{- default (printf "%s-watcher-state" (include "derrick-bot.fullname" .) | trunc 63 | trimSuffix "-") .Values.watcher.stateConfigMap }}
{{- end }}

{{/* watcher.chatID as TELEGRAM_CHAT_ID: int64 keeps a large id exact. */}}
{{- define "derrick-bot.watcherChatID" -}}
{{- if kindIs "string" .Values.watcher.chatID }}{{ .Values.watcher.chatID }}{{ else }}{{ int64 .Values.watcher.chatID | toString }}{{ end }}
{{- end }}

{{- define "derrick-bot.watcherImage" -}}
{{- $i := .Values.watcher.image }}
{{- if $i.digest }}
{{- printf "%s@%s" $i.repository $i.digest }}
{{- else }}
{{- printf "%s:%s" $i.repository (default .Chart.AppVersion $i.tag) }}
{{- end }}
{{- end }}

{{/* Refuses a watcher the watcher itself would refuse, naming the value. */}}
{{- define "derrick-bot.validateWatcher" -}}
{{- $w := .Values.watcher }}
{{- if $w.enabled }}
{{- if not $w.gitlab.url }}
{{- fail "watcher.gitlab.url is required with watcher.enabled: the GitLab instance, such as https://gitlab.example.com" }}
{{- end }}
{{- if not (or $w.gitlab.token .Values.telegram.existingSecret) }}
{{- fail "watcher.gitlab.token (or its key in telegram.existingSecret) is required with watcher.enabled: a token with read_api" }}
{{- end }}
{{- if not $w.projects }}
{{- fail "watcher.projects is required with watcher.enabled: project ids or paths such as [42, oil/refinery]" }}
{{- end }}
{{- if kindIs "invalid" $w.chatID }}
{{- fail "watcher.chatID is required with watcher.enabled: the group the notify jobs post to, such as -1001234567890" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The watcher container, one list item of the pod's containers. */}}
{{- define "derrick-bot.watcherContainer" -}}
{{- if .Values.watcher.enabled }}
{{- $w := .Values.watcher }}
{{- $secret := include "derrick-bot.secretName" . }}
{{- $keys := .Values.telegram.existingSecretKeys }}
- name: watcher
  image: {{ include "derrick-bot.watcherImage" . | quote }}
  imagePullPolicy: {{ $w.image.pullPolicy }}
  args: ["watch"]
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  ports:
    - name: watcher-http
      containerPort: {{ $w.httpPort }}
      protocol: TCP
  env:
    - name: TELEGRAM_BOT_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ $secret }}
          key: {{ if .Values.telegram.existingSecret }}{{ $keys.token }}{{ else }}TELEGRAM_BOT_TOKEN{{ end }}
    - name: TELEGRAM_API_URL
      value: {{ .Values.telegram.apiURL | quote }}
    - name: TELEGRAM_CHAT_ID
      value: {{ include "derrick-bot.watcherChatID" . | quote }}
    - name: GITLAB_URL
      value: {{ $w.gitlab.url | quote }}
    - name: GITLAB_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ $secret }}
          key: {{ if .Values.telegram.existingSecret }}{{ $keys.watcherGitlabToken }}{{ else }}WATCHER_GITLAB_TOKEN{{ end }}
    - name: WATCH_PROJECTS
      value: {{ $w.projects | join "," | quote }}
    - name: WATCH_JOB_PREFIX
      value: {{ $w.jobPrefix | quote }}
    - name: WATCH_INTERVAL
      value: {{ $w.interval | quote }}
    - name: WATCH_CREATED_GRACE
      value: {{ $w.createdGrace | quote }}
    - name: WATCH_SINCE
      value: {{ $w.since | quote }}
    - name: WATCH_REQUEST_TIMEOUT
      value: {{ $w.requestTimeout | quote }}
    - name: WATCH_STATE_CONFIGMAP
      value: {{ include "derrick-bot.watcherStateName" . | quote }}
    - name: WATCH_NAMESPACE
      value: {{ .Release.Namespace | quote }}
    - name: WATCH_HTTP_ADDR
      value: {{ printf ":%d" (int $w.httpPort) | quote }}
    {{- if include "derrick-bot.leaderElection" . }}
    # Several replicas: only the watcher of the pod holding the bot's
    # Lease posts, so one ending never reaches the group twice.
    - name: WATCH_LEASE
      value: {{ include "derrick-bot.leaseName" . | quote }}
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    {{- end }}
    - name: NOTIFY_TZ
      value: {{ $w.timeZone | quote }}
    - name: NOTIFY_TIME_FORMAT
      value: {{ $w.timeFormat | quote }}
    {{- with $w.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  # /healthz fails when no look at GitLab finished for 3 intervals (at least a minute).
  livenessProbe:
    httpGet:
      path: /healthz
      port: watcher-http
    periodSeconds: 30
    timeoutSeconds: 5
    failureThreshold: 3
  resources:
    {{- toYaml $w.resources | nindent 4 }}
{{- end }}
{{- end }}

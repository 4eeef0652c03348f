{{/* The image reference: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "kerf.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "kerf.labels" -}}
app.kubernetes.io/part-of: kerf
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* The API server's address for clusters without a Service network (values.apiServer "HOST:PORT"). */}}
{{- define "kerf.apiServerEnv" -}}
{{- with .Values.apiServer }}
{{- if not (regexMatch "^[A-Za-z0-9.-]+:[0-9]+$" .) }}{{ fail (printf "apiServer: %q is not HOST:PORT" .) }}{{ end }}
{{- $hp := splitList ":" . }}
- {name: KUBERNETES_SERVICE_HOST, value: {{ index $hp 0 | quote }}}
- {name: KUBERNETES_SERVICE_PORT, value: {{ index $hp 1 | quote }}}
{{- end }}
{{- end -}}

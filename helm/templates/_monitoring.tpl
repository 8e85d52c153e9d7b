{{- /*
Helpers of the monitoring templates (servicemonitor.yaml, prometheusrule.yaml,
grafana-dashboards.yaml), named laneway-monitoring.* so they stay self-contained: they read
only .Values.monitoring, .Release and .Chart. The name is the chart's, as the Services'
app.kubernetes.io/name label.
*/ -}}
{{- define "laneway-monitoring.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "laneway-monitoring.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "laneway-monitoring.labels" -}}
app.kubernetes.io/name: {{ include "laneway-monitoring.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: monitoring
app.kubernetes.io/part-of: laneway
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

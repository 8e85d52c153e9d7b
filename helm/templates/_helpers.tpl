{{- /*
Names, labels and the parts every workload shares. The list of workloads (`laneway.workloads`)
is the one place that says which Deployments, Services, HPAs, PDBs and NetworkPolicies exist.
*/ -}}

{{- define "laneway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "laneway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains (include "laneway.name" .) .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "laneway.name" .) | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "laneway.labels" -}}
app.kubernetes.io/name: {{ include "laneway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: laneway
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- /* The selector of one workload: (dict "root" $ "w" $workload) */ -}}
{{- define "laneway.selector" -}}
app.kubernetes.io/name: {{ include "laneway.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .w.component }}
{{- if .w.group }}
laneway.io/connectors-group: {{ .w.group }}
{{- end }}
{{- end -}}

{{- define "laneway.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{- define "laneway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "laneway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /*
Every workload: the services (one Deployment each), a Deployment per connectors group, the job
gateway (`connectors`, when it serves types) and the edge. `api` marks the services that verify
bearer tokens (laneway.auth), `http` those the edge routes to.
*/ -}}
{{- define "laneway.workloads" -}}
{{- $v := .Values -}}
{{- $items := list -}}
{{- range $name := list "engine" "definitions" "worklist" "audit" "triggers" "bridge" -}}
{{- $s := index $v.services $name -}}
{{- if $s.enabled -}}
{{- $items = append $items (dict "name" $name "component" $name "module" $name "port" $s.port "s" $s "api" (has $name (list "definitions" "worklist" "audit" "triggers")) "http" (has $name (list "definitions" "worklist" "audit" "triggers")) "outside" (eq $name "triggers")) -}}
{{- end -}}
{{- end -}}
{{- range $g := $v.connectors.groups -}}
{{- $items = append $items (dict "name" (printf "connectors-%s" $g.name) "component" "connectors" "group" $g.name "module" "connectors" "port" $v.connectors.port "s" $g "api" true "http" false "outside" true "types" (join "," $g.types)) -}}
{{- end -}}
{{- if $v.connectors.gateway.types -}}
{{- $items = append $items (dict "name" "connectors" "component" "connectors" "group" "gateway" "module" "connectors" "port" $v.connectors.port "s" $v.connectors.gateway "api" true "http" true "outside" false "types" "none" "external" (join "," $v.connectors.gateway.types)) -}}
{{- end -}}
{{- if $v.edge.enabled -}}
{{- $items = append $items (dict "name" "edge" "component" "edge" "port" $v.edge.port "s" $v.edge "api" false "http" false "outside" false "edge" true) -}}
{{- end -}}
items:
{{ toYaml $items }}
{{- end -}}

{{- define "laneway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "laneway.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- /* The Secret holding the keys the chart generates (JWT secret, audit key, triggers key) */ -}}
{{- define "laneway.keysSecret" -}}
{{- printf "%s-keys" (include "laneway.fullname" .) -}}
{{- end -}}

{{- define "laneway.connectionsSecret" -}}
{{- printf "%s-connections" (include "laneway.fullname" .) -}}
{{- end -}}

{{- /* (dict "root" $ "value" $inline "key" $chartKey "secret" $existing "secretKey" $key "what" $valuesPath): a secretKeyRef to the chart's Secret when the value is given inline, else to the existing Secret */ -}}
{{- define "laneway.secretRef" -}}
{{- if .value -}}
secretKeyRef: {name: {{ include "laneway.connectionsSecret" .root | quote }}, key: {{ .key | quote }}}
{{- else -}}
secretKeyRef: {name: {{ required (printf "%s.existingSecret (or %s.url): the Secret with the connection URL" .what .what) .secret | quote }}, key: {{ .secretKey | quote }}}
{{- end -}}
{{- end -}}

{{- /* Connection, telemetry and Kafka security settings every Laneway process reads */ -}}
{{- define "laneway.commonEnv" -}}
{{- $v := .Values -}}
- name: LANEWAY_ENV
  value: production
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers: the brokers' host:port list" $v.kafka.bootstrapServers | quote }}
- name: LANEWAY_TOPIC_PREFIX
  value: {{ $v.kafka.topicPrefix | quote }}
- name: DATABASE_URL
  valueFrom:
    {{- include "laneway.secretRef" (dict "root" . "value" $v.database.url "key" "DATABASE_URL" "secret" $v.database.existingSecret "secretKey" $v.database.urlKey "what" "database") | nindent 4 }}
- name: REDIS_URL
  valueFrom:
    {{- include "laneway.secretRef" (dict "root" . "value" $v.redis.url "key" "REDIS_URL" "secret" $v.redis.existingSecret "secretKey" $v.redis.urlKey "what" "redis") | nindent 4 }}
{{- with $v.database.schema }}
- name: LANEWAY_DB_SCHEMA
  value: {{ . | quote }}
{{- end }}
- name: LANEWAY_LOG_FORMAT
  value: {{ $v.logs.format | quote }}
- name: LANEWAY_LOG_LEVEL
  value: {{ $v.logs.level | quote }}
{{- if $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.otel.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $v.otel.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $v.otel.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $v.otel.samplerArg | quote }}
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
{{- end }}
{{- include "laneway.kafkaSecurityEnv" . }}
{{- end -}}

{{- /* LANEWAY_KAFKA_* (laneway/kafka.py): TLS files from a mounted Secret, SASL from a Secret */ -}}
{{- define "laneway.kafkaSecurityEnv" -}}
{{- $s := .Values.kafka.security -}}
{{- if ne $s.protocol "PLAINTEXT" }}
- name: LANEWAY_KAFKA_SECURITY_PROTOCOL
  value: {{ $s.protocol | quote }}
{{- end }}
{{- if hasPrefix "SASL_" $s.protocol }}
- name: LANEWAY_KAFKA_SASL_MECHANISM
  value: {{ required "kafka.security.sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (the protocol is SASL_*)" $s.sasl.mechanism | quote }}
{{- if eq $s.sasl.mechanism "OAUTHBEARER" }}
- name: LANEWAY_KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL
  value: {{ required "kafka.security.sasl.oauthbearer.tokenEndpointUrl: the token endpoint (OAUTHBEARER)" $s.sasl.oauthbearer.tokenEndpointUrl | quote }}
- name: LANEWAY_KAFKA_SASL_OAUTHBEARER_CLIENT_ID
  value: {{ required "kafka.security.sasl.oauthbearer.clientId: the client id (OAUTHBEARER)" $s.sasl.oauthbearer.clientId | quote }}
- name: LANEWAY_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET
  valueFrom:
    secretKeyRef: {name: {{ required "kafka.security.sasl.existingSecret: the Secret with the OAUTHBEARER client secret" $s.sasl.existingSecret | quote }}, key: {{ $s.sasl.clientSecretKey | quote }}}
{{- with $s.sasl.oauthbearer.scope }}
- name: LANEWAY_KAFKA_SASL_OAUTHBEARER_SCOPE
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: LANEWAY_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ required "kafka.security.sasl.existingSecret: the Secret with the SASL username and password" $s.sasl.existingSecret | quote }}, key: {{ $s.sasl.usernameKey | quote }}}
- name: LANEWAY_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $s.sasl.existingSecret | quote }}, key: {{ $s.sasl.passwordKey | quote }}}
{{- end }}
{{- end }}
{{- if and (hasSuffix "SSL" $s.protocol) $s.tls.existingSecret }}
{{- with $s.tls.caKey }}
- name: LANEWAY_KAFKA_SSL_CA_LOCATION
  value: {{ printf "/etc/laneway/kafka-tls/%s" . | quote }}
{{- end }}
{{- if $s.tls.certificateKey }}
- name: LANEWAY_KAFKA_SSL_CERTIFICATE_LOCATION
  value: {{ printf "/etc/laneway/kafka-tls/%s" $s.tls.certificateKey | quote }}
- name: LANEWAY_KAFKA_SSL_KEY_LOCATION
  value: {{ printf "/etc/laneway/kafka-tls/%s" (required "kafka.security.tls.keyKey: the client key's key in the TLS Secret (with certificateKey)" $s.tls.keyKey) | quote }}
{{- end }}
{{- with $s.tls.keyPasswordKey }}
- name: LANEWAY_KAFKA_SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $s.tls.existingSecret | quote }}, key: {{ . | quote }}}
{{- end }}
{{- end }}
{{- end -}}

{{- define "laneway.kafkaTlsMounted" -}}
{{- if and (hasSuffix "SSL" .Values.kafka.security.protocol) .Values.kafka.security.tls.existingSecret -}}true{{- end -}}
{{- end -}}

{{- /* Where the bearer tokens' keys come from (laneway/auth): a JWKS URL, an existing Secret with an HS256 secret, or the one the chart generates */ -}}
{{- define "laneway.authEnv" -}}
{{- $a := .Values.auth -}}
{{- if $a.jwksUrl }}
- name: LANEWAY_JWT_ISSUER
  value: {{ required "auth.issuer: the iss your identity provider writes into its tokens (auth.jwksUrl is set)" $a.issuer | quote }}
- name: LANEWAY_JWT_JWKS_URL
  value: {{ $a.jwksUrl | quote }}
{{- else }}
- name: LANEWAY_JWT_ISSUER
  value: {{ $a.issuer | default "laneway" | quote }}
- name: LANEWAY_JWT_SECRET
  valueFrom:
    {{- if $a.secret.existingSecret }}
    secretKeyRef: {name: {{ $a.secret.existingSecret | quote }}, key: {{ $a.secret.key | quote }}}
    {{- else if $a.secret.generate }}
    secretKeyRef: {name: {{ include "laneway.keysSecret" . | quote }}, key: jwt-secret}
    {{- else }}
    {{- fail "auth: set auth.jwksUrl (your identity provider's JWKS, https), or auth.secret.existingSecret (a Secret with a shared HS256 secret of 32 bytes or more), or auth.secret.generate: true" }}
    {{- end }}
{{- end }}
- name: LANEWAY_JWT_AUDIENCE
  value: {{ $a.audience | quote }}
{{- end -}}

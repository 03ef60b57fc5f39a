{{/* Chart name, overridable. */}}
{{- define "applink-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "applink-operator.fullname" -}}
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

{{- define "applink-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "applink-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "applink-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "applink-operator.labels" -}}
helm.sh/chart: {{ include "applink-operator.chart" . }}
{{ include "applink-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Whether to render an object of a monitoring CRD: `enabled` and either the cluster serves the API
(helm install/upgrade sees the cluster's APIs; `helm template` needs --api-versions) or `force`.
Usage: include "applink-operator.monitoringApi" (list . "monitoring.coreos.com/v1/ServiceMonitor" .Values.metrics.serviceMonitor)
*/}}
{{- define "applink-operator.monitoringApi" -}}
{{- $root := index . 0 }}{{- $api := index . 1 }}{{- $v := index . 2 }}
{{- if and $v.enabled (or $v.force ($root.Capabilities.APIVersions.Has $api)) }}true{{ end }}
{{- end }}

{{/* Proxy environment variables (both spellings: Rust's and Go's tooling differ). */}}
{{- define "applink-operator.proxyEnv" -}}
{{- with .Values.proxy }}
{{- if .httpProxy }}
- {name: HTTP_PROXY, value: {{ .httpProxy | quote }}}
- {name: http_proxy, value: {{ .httpProxy | quote }}}
{{- end }}
{{- if .httpsProxy }}
- {name: HTTPS_PROXY, value: {{ .httpsProxy | quote }}}
- {name: https_proxy, value: {{ .httpsProxy | quote }}}
{{- end }}
{{- if or .httpProxy .httpsProxy .noProxy }}
- {name: NO_PROXY, value: {{ .noProxy | quote }}}
- {name: no_proxy, value: {{ .noProxy | quote }}}
{{- end }}
{{- end }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "applink-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "applink-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the cluster-scoped RBAC objects: unique per release namespace, since release names are not. */}}
{{- define "applink-operator.clusterRbacName" -}}
{{- printf "%s-%s" .Release.Namespace (include "applink-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "applink-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The rules the operator needs, in one place for the ClusterRole and the Roles. Two parts, so that
rbac.secretNamespaces can move the Secret and ConfigMap grants out of the ClusterRole:
- "applink-operator.kindRules": its kinds (watch and write back status/finalizers) and Events
  (kube-rs writes events.k8s.io/v1; core v1 kept for older reporters). Discovery needs no rule.
- "applink-operator.secretRules": the Secrets and ConfigMaps an ApplicationInstance references
  (get only: credentials and CA bundles) and, with ExternalApplications, the Secrets it writes.
"applink-operator.rules" is both (a Role in watchNamespace; the ClusterRole by default).
*/}}
{{- define "applink-operator.rules" -}}
{{ include "applink-operator.kindRules" . }}
{{ include "applink-operator.secretRules" . }}
{{- end }}

{{- define "applink-operator.kindRules" -}}
{{- $ext := .Values.externalApplications.enabled }}
- apiGroups: ["applinks.io"]
  resources: ["applicationinstances", "applicationlinks"{{ if $ext }}, "externalapplications"{{ end }}]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["applinks.io"]
  resources: ["applicationinstances/status", "applicationlinks/status"{{ if $ext }}, "externalapplications/status"{{ end }}]
  verbs: ["get", "patch", "update"]
- apiGroups: ["applinks.io"]
  resources: ["applicationlinks/finalizers"{{ if $ext }}, "externalapplications/finalizers"{{ end }}]
  verbs: ["update"]
{{- if not .Values.watchNamespace }}
{{- /* Shared applications (cluster-scoped) and the namespace labels their allowedNamespaces
  selects on: cluster-wide installations only (a Role cannot grant cluster-scoped objects). */}}
- apiGroups: ["applinks.io"]
  resources: ["clusterapplicationinstances"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["applinks.io"]
  resources: ["clusterapplicationinstances/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
{{- end }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "applink-operator.secretRules" -}}
- apiGroups: [""]
  resources: ["secrets", "configmaps"]
  verbs: ["get"]
{{- if .Values.externalApplications.enabled }}
{{- /* ExternalApplications deliver credentials as Secrets. RBAC cannot limit create and patch
  to the Secrets the operator owns (names are the users' to choose, and rules do not match
  owners or labels); the ValidatingAdmissionPolicy of secret-write-policy.yaml does. */}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "patch"]
{{- end }}
{{- end }}

{{/*
PromQL matchers selecting this release's series in the alerts: the job Prometheus gives the
chart's ServiceMonitor (the Service's name) or PodMonitor (<namespace>/<name>), unless
metrics.prometheusRule.selector is set.
*/}}
{{- define "applink-operator.metricsSelector" -}}
{{- with .Values.metrics.prometheusRule.selector -}}
{{ . }}
{{- else -}}
job=~"{{ include "applink-operator.fullname" . }}-metrics|{{ .Release.Namespace }}/{{ include "applink-operator.fullname" . }}"
{{- end -}}
{{- end }}

{{/* The label holding an object's namespace in Prometheus (see metrics.honorLabels). */}}
{{- define "applink-operator.namespaceLabel" -}}
{{- if .Values.metrics.honorLabels }}namespace{{ else }}exported_namespace{{ end -}}
{{- end }}

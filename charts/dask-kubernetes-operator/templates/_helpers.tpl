{{- define "dko.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dko.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "dko.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dko.serviceAccountName" -}}
{{- default (include "dko.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "dko.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dko.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dko.labels" -}}
{{ include "dko.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
Upstream's values (dask-kubernetes 2026.3.0) are accepted unchanged; these helpers map each of
its keys to ours. An upstream key, when given, wins over ours: our values.yaml never sets one.
*/}}

{{/* "true" when the operator watches every namespace (upstream: rbac.cluster). */}}
{{- define "dko.clusterWide" -}}
{{- $wide := .Values.rbac.clusterWide -}}
{{- if hasKey .Values.rbac "cluster" -}}{{- $wide = .Values.rbac.cluster -}}{{- end -}}
{{- if $wide -}}true{{- end -}}
{{- end -}}

{{/* The operator image (upstream: image.name; its unreleased tag placeholder means ours). */}}
{{- define "dko.image" -}}
{{- $repository := .Values.image.name | default .Values.image.repository -}}
{{- $tag := .Values.image.tag -}}
{{- if eq (toString $tag) "set-by-chartpress" -}}{{- $tag = "" -}}{{- end -}}
{{- printf "%s:%s" $repository ($tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest }}@{{ . }}{{ end -}}
{{- end -}}

{{/*
Extra operator arguments from upstream's kopfArgs. The watch scope comes from rbac (the RBAC
must match it), so a scope flag is accepted only when it agrees; anything else is refused.
*/}}
{{- define "dko.kopfArgs" -}}
{{- $wide := include "dko.clusterWide" . -}}
{{- $args := .Values.kopfArgs | default list -}}
{{- range $i, $arg := $args -}}
{{- $arg = toString $arg -}}
{{- if has $arg (list "--all-namespaces" "-A") -}}
{{- if not $wide -}}
{{- fail (printf "kopfArgs %s needs a cluster-wide operator: set rbac.clusterWide=true (upstream: rbac.cluster=true), or drop it to watch only the release namespace" $arg) -}}
{{- end -}}
{{- else if hasPrefix "--namespace=" $arg -}}
{{- $ns := trimPrefix "--namespace=" $arg -}}
{{- if or $wide (ne $ns $.Release.Namespace) -}}
{{- fail (printf "kopfArgs %s: this chart watches either every namespace (rbac.clusterWide=true) or only the release namespace %s (rbac.clusterWide=false); install a release per namespace to watch another" $arg $.Release.Namespace) -}}
{{- end -}}
{{- else if has $arg (list "--verbose" "-v" "--debug") }}
- --verbose
{{- else if eq $arg "--standalone" -}}
{{- if $.Values.peering.enabled -}}
{{- fail "kopfArgs --standalone contradicts peering.enabled=true: drop one" -}}
{{- end -}}
{{- else -}}
{{- fail (printf "kopfArgs %s is not supported: the operator takes its scope from rbac.clusterWide, leader election from peering.enabled, and -v/--verbose; see values.yaml" $arg) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Refuse values that would run the operator unsafely or that this operator cannot honour. */}}
{{- define "dko.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) -}}
{{- fail (printf "replicas=%d without leader election runs %d active operators that fight over every cluster: set peering.enabled=true, or replicas=1" (int .Values.replicas) (int .Values.replicas)) -}}
{{- end -}}
{{- with .Values.workerAllocation -}}
{{- if or .size .delay -}}
{{- fail "workerAllocation.size/delay are not needed: this operator creates a worker group's missing pods in one pass; remove workerAllocation (or leave both null)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Dask-Gateway (gateway.enabled). Its own name, labels and ServiceAccount: its pods must not match
the operator Deployment's selector, and its RBAC is its own (files/rbac-gateway-rules.yaml).
*/}}
{{- define "dko.gateway.fullname" -}}
{{- printf "%s-gateway" (include "dko.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{- define "dko.gateway.serviceAccountName" -}}
{{- default (include "dko.gateway.fullname" .) .Values.gateway.serviceAccount.name -}}
{{- end -}}

{{- define "dko.gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-gateway" (include "dko.name" . | trunc 55 | trimSuffix "-") }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "dko.gateway.labels" -}}
{{ include "dko.gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The gateway's image: its own when set, else the operator's (the image holds both). */}}
{{- define "dko.gateway.image" -}}
{{- if .Values.gateway.image.repository -}}
{{- printf "%s:%s" .Values.gateway.image.repository (.Values.gateway.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.gateway.image.digest }}@{{ . }}{{ end -}}
{{- else -}}
{{- include "dko.image" . -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the gateway's generated credentials (proxy token, passwords). */}}
{{- define "dko.gateway.secretName" -}}
{{- printf "%s-credentials" (include "dko.gateway.fullname" .) -}}
{{- end -}}

{{/* The namespace of the gateway's clusters: gateway.clustersNamespace or the release's. */}}
{{- define "dko.gateway.clustersNamespace" -}}
{{- .Values.gateway.clustersNamespace | default .Release.Namespace -}}
{{- end -}}

{{/* Refuse gateway values that cannot work, with what to set instead. */}}
{{- define "dko.gateway.validate" -}}
{{- $gw := .Values.gateway -}}
{{- if and (eq $gw.auth.type "kerberos") (not $gw.auth.kerberos.keytabSecret.name) -}}
{{- fail "gateway.auth.type=kerberos needs gateway.auth.kerberos.keytabSecret.name: a Secret holding the service's keytab (kubectl create secret generic NAME --from-file=keytab=dask-gateway.keytab)" -}}
{{- end -}}
{{- if and (eq $gw.auth.type "jupyterhub") (not $gw.auth.jupyterhub.apiUrl) -}}
{{- fail "gateway.auth.type=jupyterhub needs gateway.auth.jupyterhub.apiUrl (e.g. http://hub.jhub:8081/hub/api)" -}}
{{- end -}}
{{- if and (not (include "dko.clusterWide" .)) (ne (include "dko.gateway.clustersNamespace" .) .Release.Namespace) -}}
{{- fail (printf "gateway.clustersNamespace=%s: the operator watches only the release namespace %s (rbac.clusterWide=false); leave it empty or set rbac.clusterWide=true" .Values.gateway.clustersNamespace .Release.Namespace) -}}
{{- end -}}
{{- if not $gw.clusterOptions.images -}}
{{- fail "gateway.clusterOptions.images must list at least one image: users choose only from it" -}}
{{- end -}}
{{- if not $gw.clusterOptions.workerSizes -}}
{{- fail "gateway.clusterOptions.workerSizes must list at least one size: users choose only from it" -}}
{{- end -}}
{{- end -}}

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

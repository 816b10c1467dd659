{{/*
The chart name, or nameOverride.
*/}}
{{- define "tandem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: the release name, or `<release>-<chart>` when the release name does
not already contain the chart name. Cut to 54 characters, not Helm's usual 63, so `<fullname>-injector`
still fits a Service name (an RFC 1035 label: 63 at most).
*/}}
{{- define "tandem.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tandem.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object; `component` (ca or injector) is added by the caller.
*/}}
{{- define "tandem.labels" -}}
helm.sh/chart: {{ include "tandem.chart" . }}
app.kubernetes.io/name: {{ include "tandem.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tandem
{{- end }}

{{/*
Selector labels of one component; immutable once a Deployment exists, so nothing version-specific.
Call with (dict "root" $ "component" "ca").
*/}}
{{- define "tandem.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tandem.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tandem.componentLabels" -}}
{{ include "tandem.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tandem.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "tandem.caName" -}}
{{- printf "%s-ca" (include "tandem.fullname" .) }}
{{- end }}

{{- define "tandem.injectorName" -}}
{{- printf "%s-injector" (include "tandem.fullname" .) }}
{{- end }}

{{/*
Where the CA Secret is mounted, in the CA and in the injector alike.
*/}}
{{- define "tandem.caDir" -}}
/var/lib/tandem-ca
{{- end }}

{{/*
The CA Secret as a volume: mode 0440, so only root and the pod's fsGroup read the CA's private keys.
Written in decimal (288): a leading-zero octal means 440 to a YAML 1.2 reader.
*/}}
{{- define "tandem.caVolume" -}}
- name: ca
  secret:
    secretName: {{ .Values.ca.secretName }}
    defaultMode: 288
{{- end }}

{{/*
Scheduling and pull settings shared by the pod specs. Call with (dict "root" $ "component" .Values.ca).
*/}}
{{- define "tandem.podScheduling" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The webhooks' caBundle (base64 of PEM), what the API server trusts the injector's serving certificate
by (the injector signs it with the CA's newest root): injector.caBundle when set, else bundle.pem of the
CA Secret read at install or upgrade time, else empty. `helm template` and --dry-run cannot read the
cluster, so there it is empty unless set.
*/}}
{{- define "tandem.caBundle" -}}
{{- if .Values.injector.caBundle }}
{{- .Values.injector.caBundle | b64enc }}
{{- else }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace .Values.ca.secretName }}
{{- if and $secret $secret.data }}
{{- index $secret.data "bundle.pem" | default "" }}
{{- end }}
{{- end }}
{{- end }}

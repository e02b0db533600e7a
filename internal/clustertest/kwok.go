package clustertest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// kwokStages are kwok's own node and pod Stage objects (see
// kwokstages/README.md).
//
//go:embed kwokstages/*.yaml
var kwokStages embed.FS

// Labels and annotations that drive kwok.
const (
	// KwokNodeAnnotation marks a Node as managed by kwok (value "fake").
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// NotReadyLabel set to "true" keeps a kwok node's Ready condition False:
	// the derrick-node-not-ready stage outranks kwok's node-initialize.
	NotReadyLabel = "clustertest.derrick-kit.gitlab.com/not-ready"
)

// notReadyStage reports Ready=False, reason KubeletNotReady, for nodes
// labelled NotReadyLabel=true. Its positive weight makes kwok choose it over
// node-initialize (weight 0). Its timestamps are the node's creation time,
// so a second pass changes nothing and kwok stops patching; kwok keeps
// renewing the node Lease, so kube-controller-manager believes the kubelet
// is alive and keeps the reported False instead of Unknown.
const notReadyStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: derrick-node-not-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.metadata.labels["` + NotReadyLabel + `"]'
      operator: 'In'
      values:
      - 'true'
  weight: 1
  next:
    statusTemplate: |
      {{ $since := .metadata.creationTimestamp }}
      conditions:
      {{ range NodeConditions }}
      {{ if eq .type "Ready" }}
      - lastHeartbeatTime: {{ $since | Quote }}
        lastTransitionTime: {{ $since | Quote }}
        message: "container runtime network not ready: NetworkReady=false (simulated by clustertest)"
        reason: "KubeletNotReady"
        status: "False"
        type: "Ready"
      {{ else }}
      - lastHeartbeatTime: {{ $since | Quote }}
        lastTransitionTime: {{ $since | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      {{ end }}
      {{ $hasInternalIP := false }}
      {{ range .status.addresses }}
        {{ if eq .type "InternalIP" }}
          {{ $hasInternalIP = true }}
        {{ end }}
      {{ end }}
      {{ if not $hasInternalIP }}
      addresses:
      {{ range .status.addresses }}
      - address: {{ .address | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ end }}
      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}
      allocatable:
      {{ with .status.allocatable }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}
      capacity:
      {{ with .status.capacity }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}
      phase: Running
`

// AppLogLineCount is the number of lines every kwok pod serves as its log.
const AppLogLineCount = 100

// AppLogLines returns the log every container of every kwok pod serves:
// "line 1" to "line 100".
func AppLogLines() []string {
	lines := make([]string, AppLogLineCount)
	for i := range lines {
		lines[i] = "line " + strconv.Itoa(i+1)
	}
	return lines
}

// writeKwokConfig writes kwok's --config: options, stages and the
// ClusterLogs object with the CRI-format log file it points at.
func writeKwokConfig(dir string, port int, certFile, keyFile string) (string, error) {
	logFile := filepath.Join(dir, "app-container.log")
	var logData bytes.Buffer
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, line := range AppLogLines() {
		// CRI logging format: time stream tag(F = full line) message.
		fmt.Fprintf(&logData, "%s stdout F %s\n", start.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), line)
	}
	if err := os.WriteFile(logFile, logData.Bytes(), 0o600); err != nil {
		return "", err
	}

	var cfg bytes.Buffer
	// kwok applies no defaults to a KwokConfiguration from --config, so
	// every parallelism is set.
	options := map[string]any{
		"apiVersion": "config.kwok.x-k8s.io/v1alpha1",
		"kind":       "KwokConfiguration",
		"metadata":   map[string]any{"name": "clustertest"},
		"options": map[string]any{
			"manageAllNodes":                    false,
			"manageNodesWithAnnotationSelector": KwokNodeAnnotation + "=fake",
			"cidr":                              "10.244.0.0/16",
			"nodeIP":                            "127.0.0.1",
			"nodePort":                          port,
			"serverAddress":                     "127.0.0.1:" + strconv.Itoa(port),
			"tlsCertFile":                       certFile,
			"tlsPrivateKeyFile":                 keyFile,
			"enableDebuggingHandlers":           true,
			"enableProfilingHandler":            false,
			"enableContentionProfiling":         false,
			"nodeLeaseDurationSeconds":          40,
			"nodeLeaseParallelism":              4,
			"nodePlayStageParallelism":          4,
			"podPlayStageParallelism":           4,
			"podsOnNodeSyncParallelism":         4,
			"enablePodsOnNodeSyncListPager":     true,
			"enablePodsOnNodeSyncStreamWatch":   false,
		},
	}
	logs := map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "ClusterLogs",
		"metadata":   map[string]any{"name": "clustertest-app-logs"},
		"spec": map[string]any{
			"selector": map[string]any{},
			"logs":     []any{map[string]any{"logsFile": logFile, "follow": false}},
		},
	}
	for _, obj := range []any{options, logs} {
		data, err := json.Marshal(obj)
		if err != nil {
			return "", err
		}
		cfg.Write(data)
		cfg.WriteString("\n---\n")
	}
	stages, err := fs.Glob(kwokStages, "kwokstages/*.yaml")
	if err != nil {
		return "", err
	}
	for _, name := range stages {
		data, err := kwokStages.ReadFile(name)
		if err != nil {
			return "", err
		}
		cfg.Write(data)
		cfg.WriteString("\n---\n")
	}
	cfg.WriteString(notReadyStage)

	path := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(path, cfg.Bytes(), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

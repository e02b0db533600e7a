//go:build tools

// Package tools pins the kustomize command that build.sh compiles (Argo CD's
// repo-server runs it from PATH).
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"

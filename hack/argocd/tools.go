//go:build tools

// Package tools pins the Argo CD multi-call binary that build.sh compiles,
// so go.mod and go.sum record its exact dependency graph.
package tools

import _ "github.com/argoproj/argo-cd/v2/cmd"

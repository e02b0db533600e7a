//go:build tools

// Package tools pins the Kubernetes control-plane commands that
// build-tools.sh compiles, so go.mod and go.sum record their exact
// dependency graph.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)

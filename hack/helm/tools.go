//go:build tools

// Package tools pins helm, built by build.sh from the Go module proxy.
package tools

import _ "helm.sh/helm/v3/cmd/helm"

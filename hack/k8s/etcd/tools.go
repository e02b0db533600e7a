//go:build tools

// Package tools pins the etcd server that build-tools.sh compiles.
package tools

import _ "go.etcd.io/etcd/server/v3"

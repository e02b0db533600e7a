// Package chart tests Derrick's Helm chart (chart/) for real: helm (built
// from the Go module proxy by hack/helm/build.sh) lints and renders it and
// rejects bad values through values.schema.json; the rendered manifests are
// applied to a real kube-apiserver (internal/clustertest), and the built bot
// binary runs with a token of the chart's ServiceAccount against the
// Telegram emulator and a real registry, so every command goes through the
// chart's RBAC. An access matrix proves what that ServiceAccount cannot do,
// and the apiserver is killed and restarted under a running bot.
//
// BenchmarkScale measures /get_nodes on 5,000 nodes and /get_pods on 1,000
// pods beside kubectl:
//
//	go test -run '^$' -bench Scale -benchtime 5x ./test/chart/
//
// Without helm or the control plane binaries the tests skip, unless CI=true.
package chart

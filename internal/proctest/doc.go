// Package proctest is what the harnesses that run real programs in tests
// (clustertest, argocdtest, registrytest, bottest) share: a child Process in
// its own process group with its output in a log file, a Group of them, Poll
// for readiness, FreePorts, Memory from /proc, SyncBuffer for output read
// while it is written, and the rule for missing tools: CacheDir is where the
// hack/ build scripts put binaries, and Require, RequireTools and SkipOrFail
// skip a test when something is missing, or fail it when CI=true.
package proctest

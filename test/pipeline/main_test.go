package pipeline

import (
	"os"
	"testing"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// TestMain shares one control plane among the tests that need one (the
// argo-promote run against a real Argo CD). It starts on the first
// clustertest.Shared call only, so the other tests of the package cost
// nothing more, and stops after the last test.
func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }

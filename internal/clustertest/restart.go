package clustertest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StopAPIServer kills kube-apiserver (SIGKILL, as a crash or a lost control
// plane node would) and waits until it is gone; everything else keeps
// running. Clients then get "connection refused". StartAPIServer brings it
// back on the same address. Tests that stop the apiserver of a Shared
// cluster must not run in parallel with others.
func (c *Cluster) StopAPIServer() error {
	p := c.procs.Find("kube-apiserver")
	if p == nil {
		return errors.New("clustertest: no kube-apiserver process")
	}
	return p.Stop()
}

// StartAPIServer starts kube-apiserver again with the flags and port it had
// and waits until it answers /readyz (up to 60s unless ctx ends earlier).
// The previous log is kept as kube-apiserver.log.N. It does nothing but wait
// when the apiserver runs.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	for i, p := range c.procs {
		if p.Name != "kube-apiserver" {
			continue
		}
		if p.Exited() != nil {
			np, err := p.Restart()
			if err != nil {
				return fmt.Errorf("clustertest: %w", err)
			}
			c.procs[i] = np
		}
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
		}
		return c.waitAPIServer(ctx)
	}
	return errors.New("clustertest: no kube-apiserver process")
}

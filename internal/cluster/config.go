package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client settings Config applies. The bot makes a few requests per
// command, so the limits only matter for bursts (listing thousands of
// nodes is one request per 500).
const (
	clientQPS   = 20
	clientBurst = 40
	userAgent   = "derrick-bot"
	// Protobuf is what the API server encodes and client-go decodes
	// fastest for the core types, the only ones the bot reads; JSON stays
	// acceptable for anything that cannot be served as protobuf.
	contentType        = protobufMediaType
	acceptContentTypes = protobufMediaType + ",application/json"
)

// requestTimeout bounds each request to the API server (one page of a
// list, one log read included), retries within it too: a command makes at
// most three in a row, so a hung API server is reported well inside
// BOT_COMMAND_TIMEOUT's default of 60s. The bot makes no watch, which this
// would cut; a rollout is followed by polling. Tests shorten it.
var requestTimeout = 15 * time.Second

// Config returns the client configuration for the cluster: from the
// kubeconfig file(s) kubeconfig names (the value of KUBECONFIG, a
// list separated like PATH) when it is not empty, else the in-cluster
// configuration of the pod's ServiceAccount. It sets a per-request timeout
// of 15s, QPS 20 (burst 40), protobuf as the wire format and the user agent
// derrick-bot.
func Config(kubeconfig string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(kubeconfig)}
		if len(rules.Precedence) == 1 {
			// One file must exist; from a list, missing files are skipped.
			rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
		}
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s (from KUBECONFIG): %w", kubeconfig, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, errors.New("no Kubernetes configuration: set KUBECONFIG or run in a pod with a ServiceAccount")
		}
		if err != nil {
			return nil, fmt.Errorf("load in-cluster configuration: %w (set KUBECONFIG or run in a pod with a ServiceAccount whose token is mounted)", err)
		}
	}
	cfg.Timeout = requestTimeout
	cfg.ContentType, cfg.AcceptContentTypes = contentType, acceptContentTypes
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	cfg.UserAgent = cmp.Or(cfg.UserAgent, userAgent)
	return cfg, nil
}

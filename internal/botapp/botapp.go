// Package botapp wires the ChatOps bot together: Telegram client, poll loop,
// command core, Kubernetes, registry and the operational HTTP endpoints.
package botapp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/PaulSonOfLars/gotgbot/v2"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"gitlab.com/derrick-kit/derrick/internal/argocd"
	"gitlab.com/derrick-kit/derrick/internal/botconfig"
	"gitlab.com/derrick-kit/derrick/internal/chatops"
	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/deploy"
	"gitlab.com/derrick-kit/derrick/internal/leader"
	"gitlab.com/derrick-kit/derrick/internal/opshttp"
	"gitlab.com/derrick-kit/derrick/internal/registry"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
	"gitlab.com/derrick-kit/derrick/internal/tgbot"
)

// Deps replace the real Kubernetes client or registry (the demo does).
type Deps struct {
	Kube     kubernetes.Interface
	Registry chatops.Registry
	// Listening, when set, is told the address of the HTTP endpoints.
	Listening func(addr string)
}

// Run serves the bot until ctx ends. It returns an error the operator must
// act on: an unusable configuration, a rejected token, a port in use.
func Run(ctx context.Context, cfg botconfig.Config, log *slog.Logger, deps Deps) error {
	kube := deps.Kube
	if kube == nil {
		rc, err := cluster.Config(cfg.Kubeconfig)
		if err != nil {
			return err
		}
		if kube, err = kubernetes.NewForConfig(rc); err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
	}
	ns := cmp.Or(cfg.Namespace, podNamespace("default"))
	kc := cluster.New(kube, cluster.Target{Namespace: ns, Deployment: cfg.Deployment, Container: cfg.Container})

	reg := deps.Registry
	if reg == nil {
		var err error
		if reg, err = newRegistry(cfg, log); err != nil {
			return err
		}
	}

	metrics := opshttp.NewMetrics(chatops.CommandNames()...)
	retry := telegram.DefaultRetry
	retry.Max = 5 * time.Second
	// Bounded, so a Telegram outage cannot hold a chat's queue forever; the
	// poll loop and start-up have their own endless, logged back-off.
	retry.Attempts = 6
	retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		log.Warn("telegram call failed; retrying", "attempt", attempt, "wait", wait.String(), "error", err)
	}
	client := tgbot.NewClient(cfg.APIURL, cfg.Token, retry, metrics)
	bot, err := gotgbot.NewBot(cfg.Token, &gotgbot.BotOpts{BotClient: client, DisableTokenCheck: true})
	if err != nil {
		return fmt.Errorf("telegram bot: %w", err)
	}
	if err := tgbot.Hello(ctx, bot, log); err != nil {
		return err
	}

	deployer, err := newDeployer(cfg, kc)
	if err != nil {
		return err
	}
	checker, group, err := newAccess(ctx, cfg, bot, metrics, log)
	if err != nil {
		return err
	}
	cfg.Core.Access, cfg.Core.Group = checker, group
	// The audit line of each command names the replica that ran it.
	core := chatops.New(cfg.Core, kc, deployer, reg, log.With("replica", cfg.Leader.Identity), ns, cfg.Deployment)
	pollOpts := tgbot.Options{
		ChatQueue:          cfg.Delivery.ChatQueue,
		StrangerReplyEvery: cfg.Delivery.StrangerReplyEvery,
		OnResult: func(r chatops.Result, d time.Duration) {
			if r.Outcome != chatops.OutcomeIgnored {
				metrics.Command(r.Command, string(r.Outcome), d)
			}
		},
	}
	var elector *leader.Elector
	var role func() string // /readyz's line about leadership, with leader election
	if cfg.Leader.Enabled {
		lc := cfg.Leader
		lc.Namespace = cmp.Or(lc.Namespace, podNamespace(ns))
		// A leader that lost the Lease must be done within StopBound:
		// running commands get half of it, the last confirmation a quarter.
		pollOpts.ShutdownWait = lc.StopBound() / 2
		pollOpts.ConfirmTimeout = lc.StopBound() / 4
		// client-go's election logs through klog: into the JSON log.
		klog.SetSlogLogger(log.With("component", "leaderelection"))
		elector = leader.New(kube, lc, log, metrics.Leader)
		role = elector.Status
		metrics.EnableLeader()
	}
	var poller atomic.Pointer[tgbot.Poller]
	newPoller := func() *tgbot.Poller {
		p := tgbot.NewPoller(bot, core, log, pollOpts)
		poller.Store(p)
		return p
	}
	newPoller()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("BOT_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	if deps.Listening != nil {
		deps.Listening(ln.Addr().String())
	}
	srv := &http.Server{
		Handler: opshttp.Handler(metrics, opshttp.Checks{
			Live: func() error {
				if elector != nil && !elector.Leading() {
					return nil // a standby does not poll
				}
				if since := time.Since(poller.Load().LastProgress()); since > 3*time.Minute {
					return fmt.Errorf("no successful poll of Telegram for %s", since.Round(time.Second))
				}
				return nil
			},
			Ready: func(ctx context.Context) error { return ready(ctx, bot, kc, core.Health()) },
			Role:  role,
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "error", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	log.Info("bot started", "bot", "@"+bot.Username, "namespace", ns, "deployment", cfg.Deployment,
		"registry", cfg.Source, "deploy_via", cfg.DeployVia, "http", ln.Addr().String(),
		"operators", len(cfg.Core.Operators), "viewers", len(cfg.Core.Viewers), "group_id", cfg.Access.GroupID,
		"replica", cfg.Leader.Identity, "leader_election", elector != nil,
		"confirm", cfg.Core.Confirm, "confirm_ttl", cfg.Core.ConfirmTTL.String())
	if elector == nil {
		err = poller.Load().Run(ctx)
	} else {
		// Only the leader polls; each term starts a fresh poll loop (its
		// liveness clock starts with the term).
		err = elector.Run(ctx, func(ctx context.Context) error { return newPoller().Run(ctx) })
	}
	log.Info("bot stopped")
	return err
}

// newDeployer picks how /deploy and /set_replicas change the application.
func newDeployer(cfg botconfig.Config, kc *cluster.Client) (chatops.Deployer, error) {
	if cfg.DeployVia != string(deploy.ArgoCD) {
		return &deploy.KubernetesDeployer{Cluster: kc, Every: chatops.DefaultProgressEvery / 2}, nil
	}
	argo, err := argocd.New(cfg.ArgoCD)
	if err != nil {
		return nil, fmt.Errorf("argo cd client: %w", err)
	}
	return &deploy.ArgoCDDeployer{Argo: argo, Cluster: kc, Workload: cfg.Deployment, Repository: cfg.Core.RegistryImage}, nil
}

// newRegistry is the registry of REGISTRY_SOURCE: a cached listing for
// /showcontainers, and Resolve, past the cache, for the digest /deploy pins.
func newRegistry(cfg botconfig.Config, log *slog.Logger) (chatops.Registry, error) {
	cfg.OCI.Logger, cfg.GitLab.Logger = log, log
	if cfg.Source == "oci" {
		return registry.NewOCI(cfg.OCI)
	}
	return registry.NewGitLab(cfg.GitLab)
}

// podNamespace is the namespace of the pod the bot runs in, or def.
func podNamespace(def string) string {
	if ns, ok := cluster.NamespaceFromServiceAccount(); ok {
		return ns
	}
	return def
}

// ready checks Telegram and the Kubernetes API now, and reports the
// registry and Argo CD by how their last call ended (probing them would
// cost a listing or an API call per probe). Each failing one is named.
func ready(ctx context.Context, bot *gotgbot.Bot, kc *cluster.Client, health *chatops.Health) error {
	passive := health.Failing(chatops.DepRegistry, chatops.DepArgoCD)
	active := opshttp.CheckAll(ctx,
		opshttp.Probe{Name: "telegram", Check: func(ctx context.Context) error { return tgbot.Ping(ctx, bot) }},
		opshttp.Probe{Name: chatops.DepKubernetes, Check: kc.Ping},
	)
	return errors.Join(append([]error{active}, passive...)...)
}

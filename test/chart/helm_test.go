package chart

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"gitlab.com/derrick-kit/derrick/internal/botconfig"
	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

var (
	minimalValues = filepath.Join("testdata", "minimal-values.yaml")
	fullValues    = filepath.Join("testdata", "full-values.yaml")
)

// botVariables is every variable the bot reads (internal/botconfig), the
// ARGOCD_* ones of DEPLOY_VIA=argocd included.
var botVariables = []string{
	"TELEGRAM_BOT_TOKEN", "TELEGRAM_API_URL", "CHATOPS_OPERATORS", "CHATOPS_VIEWERS",
	"CHATOPS_AUDIT_CHAT_ID", "CHATOPS_GROUP_ID", "CHATOPS_GROUP_ADMIN_ROLE", "CHATOPS_GROUP_MEMBER_ROLE",
	"CHATOPS_GROUP_CACHE", "KUBECONFIG", "APP_NAMESPACE", "APP_DEPLOYMENT", "APP_CONTAINER",
	"REGISTRY_SOURCE", "GITLAB_URL", "GITLAB_TOKEN", "GITLAB_PROJECT", "REGISTRY_IMAGE",
	"REGISTRY_USERNAME", "REGISTRY_PASSWORD", "REGISTRY_INSECURE", "DEPLOY_VIA", "BOT_LANG",
	"BOT_HTTP_ADDR", "BOT_MAX_REPLICAS", "BOT_MAX_COMMAND_AGE", "BOT_ROLLOUT_TIMEOUT",
	"ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN", "ARGOCD_APP", "ARGOCD_PROJECT", "ARGOCD_INSECURE",
	"BOT_COMMAND_TIMEOUT", "BOT_CHAT_QUEUE", "BOT_STRANGER_REPLY_EVERY", "BOT_GROUP_LOGS",
	"REGISTRY_CACHE_TTL", "BOT_CONFIRM", "BOT_CONFIRM_TTL",
	"POD_NAME", "POD_NAMESPACE", "BOT_LEADER_ELECTION", "BOT_LEASE_NAME", "BOT_LEASE_DURATION",
	"BOT_LEASE_RENEW_DEADLINE", "BOT_LEASE_RETRY_PERIOD",
}

func TestLint(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"chart defaults", nil},
		{"minimal values", []string{"-f", minimalValues}},
		{"full values", []string{"-f", minimalValues, "-f", fullValues}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := helm(t, append([]string{"lint", "--strict", chartDir}, tt.args...)...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s%s", err, out, stderr)
			}
			if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
				t.Errorf("helm lint did not pass:\n%s", out)
			}
			for _, bad := range []string{"[WARNING]", "[ERROR]"} {
				if strings.Contains(out, bad) {
					t.Errorf("helm lint reports %s:\n%s", bad, out)
				}
			}
		})
	}
}

// envOf returns the environment of the bot container as the pod would get
// it: values, and secretKeyRefs resolved from the rendered Secret or, for
// existingSecret, from existing.
func envOf(t testing.TB, objs []*unstructured.Unstructured, existing map[string]map[string]string) map[string]string {
	t.Helper()
	secrets := maps.Clone(existing)
	if secrets == nil {
		secrets = map[string]map[string]string{}
	}
	for _, o := range objs {
		if o.GetKind() != "Secret" {
			continue
		}
		s := typed[corev1.Secret](t, o)
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		secrets[s.Name] = data
	}
	d := deploymentOf(t, objs)
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name][ref.Key]
			if !ok && (ref.Optional == nil || !*ref.Optional) {
				t.Fatalf("%s: key %q of Secret %q does not exist and is not optional", e.Name, ref.Key, ref.Name)
			}
			if ok {
				env[e.Name] = v
			}
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			env[e.Name] = d.Name + "-0" // the downward API: the pod's name
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = d.Namespace
		default:
			t.Fatalf("%s: unexpected valueFrom %+v", e.Name, e.ValueFrom)
		}
	}
	return env
}

// loadConfig runs the bot's own configuration parser on env.
func loadConfig(t testing.TB, env map[string]string) botconfig.Config {
	t.Helper()
	cfg, err := botconfig.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the bot refuses the chart's environment: %v", err)
	}
	return cfg
}

func TestTemplateMinimal(t *testing.T) {
	objs := render(t, "oil", "-f", minimalValues)
	want := []string{"ServiceAccount", "Secret", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
		"Deployment", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicy",
		"ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicyBinding"}
	if diff := cmp.Diff(want, kinds(objs)); diff != "" {
		t.Errorf("rendered kinds (-want +got):\n%s", diff)
	}

	// Before Kubernetes 1.30 there is no ValidatingAdmissionPolicy v1: left out.
	old := render(t, "oil", "-f", minimalValues, "--kube-version", "1.29.0")
	if diff := cmp.Diff(want[:len(want)-4], kinds(old)); diff != "" {
		t.Errorf("rendered kinds for Kubernetes 1.29 (-want +got):\n%s", diff)
	}

	d := deploymentOf(t, objs)
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %q, want 1 and Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	psc, sc := pod.SecurityContext, pod.Containers[0].SecurityContext
	if psc == nil || sc == nil || !*psc.RunAsNonRoot || *psc.RunAsUser == 0 || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		!*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("security contexts: pod %+v container %+v", psc, sc)
	}
	c := pod.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if c.Image != "registry.gitlab.com/derrick-kit/derrick/bot:0.1.0" {
		t.Errorf("image %q", c.Image)
	}
	if pod.ServiceAccountName != "oil-bot-derrick-bot" || !*pod.AutomountServiceAccountToken {
		t.Errorf("service account %q automount %v", pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}

	env := envOf(t, objs, nil)
	wantEnv := map[string]string{
		"TELEGRAM_BOT_TOKEN":  "7000000003:AAMinimalValuesToken_abcdef",
		"TELEGRAM_API_URL":    "https://api.telegram.org",
		"CHATOPS_OPERATORS":   "8123456789",
		"CHATOPS_VIEWERS":     "",
		"APP_NAMESPACE":       "oil",
		"APP_DEPLOYMENT":      "oil-refinery-application",
		"REGISTRY_SOURCE":     "oci",
		"REGISTRY_IMAGE":      "registry.example.com/oil/app",
		"REGISTRY_INSECURE":   "false",
		"REGISTRY_CACHE_TTL":  "30s",
		"DEPLOY_VIA":          "kubernetes",
		"BOT_LANG":            "ru",
		"BOT_HTTP_ADDR":       ":8080",
		"BOT_MAX_REPLICAS":    "10",
		"BOT_MAX_COMMAND_AGE": "2m",
		"BOT_ROLLOUT_TIMEOUT": "5m",
		// Delivery (issue 12).
		"BOT_COMMAND_TIMEOUT":      "60s",
		"BOT_CHAT_QUEUE":           "20",
		"BOT_STRANGER_REPLY_EVERY": "10m",
		"BOT_GROUP_LOGS":           "false",
		// Confirmation buttons (issue 14).
		"BOT_CONFIRM":     "deploy,rollback",
		"BOT_CONFIRM_TTL": "60s",
		// The replica's name, from the downward API (issue 16).
		"POD_NAME": "oil-bot-derrick-bot-0",
	}
	if diff := cmp.Diff(wantEnv, env); diff != "" {
		t.Errorf("bot environment (-want +got):\n%s", diff)
	}
	cfg := loadConfig(t, env)
	if !slices.Equal(cfg.Core.Operators, []int64{8123456789}) {
		t.Errorf("operators %v", cfg.Core.Operators)
	}

	// RBAC: exactly the rules the bot's commands need.
	cr := typed[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole"))
	wantCR := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "patch"}}}
	if diff := cmp.Diff(wantCR, cr.Rules); diff != "" {
		t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
	}
	role := typed[rbacv1.Role](t, find(t, objs, "Role"))
	wantRole := []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, ResourceNames: []string{"oil-refinery-application"}, Verbs: []string{"get", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list"}},
	}
	if diff := cmp.Diff(wantRole, role.Rules); diff != "" {
		t.Errorf("Role rules (-want +got):\n%s", diff)
	}
	if role.Namespace != "oil" {
		t.Errorf("Role in namespace %q, want oil", role.Namespace)
	}
}

func TestTemplateFull(t *testing.T) {
	objs := render(t, "derrick", "-f", minimalValues, "-f", fullValues)
	// deploy.via argocd: the bot does not patch the Deployment, so only the node policy.
	want := []string{"NetworkPolicy", "ServiceAccount", "Secret", "ClusterRole", "ClusterRoleBinding", "Role", "Role",
		"RoleBinding", "RoleBinding", "Service", "Deployment", "Lease", "ServiceMonitor", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	if diff := cmp.Diff(want, kinds(objs)); diff != "" {
		t.Errorf("rendered kinds (-want +got):\n%s", diff)
	}
	env := envOf(t, objs, nil)
	names := slices.Sorted(maps.Keys(env))
	wantNames := append(slices.Clone(botVariables), "TZ")
	slices.Sort(wantNames)
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("variables set (-want +got):\n%s", diff)
	}
	for k, v := range map[string]string{
		"CHATOPS_OPERATORS":     "8123456789,111",
		"CHATOPS_VIEWERS":       "222,7000000000",
		"CHATOPS_AUDIT_CHAT_ID": "-1001234567890",
		"CHATOPS_GROUP_ID":      "-1009876543210",
		"CHATOPS_GROUP_CACHE":   "30s",
		"APP_NAMESPACE":         "oil",
		"BOT_HTTP_ADDR":         ":9090",
		"GITLAB_PROJECT":        "oil/refinery",
		"REGISTRY_PASSWORD":     "registry-password",
		"DEPLOY_VIA":            "argocd",
		"ARGOCD_SERVER":         "https://argocd.example.com",
		"ARGOCD_AUTH_TOKEN":     "argocd-token",
		"ARGOCD_APP":            "refinery",
		"ARGOCD_PROJECT":        "oil",
		"ARGOCD_INSECURE":       "true",
		"BOT_LEADER_ELECTION":   "true",
		"BOT_LEASE_NAME":        "oil-chatops-lease",
		"POD_NAMESPACE":         "derrick",
		"BOT_CONFIRM":           "set_replicas,cordon,uncordon",
		"BOT_CONFIRM_TTL":       "2m",
	} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	cfg := loadConfig(t, env)
	if cfg.Core.AuditChatID != -1001234567890 || cfg.Core.Lang != "en" || cfg.Core.MaxReplicas != 5 || cfg.Source != "gitlab" {
		t.Errorf("bot config from the chart: %+v", cfg.Core)
	}
	if cfg.Core.CommandTimeout != 30*time.Second || cfg.Delivery.ChatQueue != 5 || cfg.Delivery.StrangerReplyEvery != time.Hour || !cfg.Core.GroupLogs {
		t.Errorf("delivery settings from the chart: timeout %s queue %d stranger every %s group logs %v",
			cfg.Core.CommandTimeout, cfg.Delivery.ChatQueue, cfg.Delivery.StrangerReplyEvery, cfg.Core.GroupLogs)
	}
	if l := cfg.Leader; !l.Enabled || l.LeaseDuration != 20*time.Second || l.RenewDeadline != 12*time.Second || l.RetryPeriod != 3*time.Second {
		t.Errorf("leader election from the chart: %+v", l)
	}
	if cfg.Access.GroupID != -1009876543210 || cfg.Access.AdminRole.String() != "viewer" || cfg.Access.MemberRole.String() != "stranger" {
		t.Errorf("bot access from the chart: %+v", cfg.Access)
	}
	if cfg.DeployVia != "argocd" || cfg.ArgoCD.App != "refinery" || cfg.ArgoCD.Project != "oil" || !cfg.ArgoCD.Insecure {
		t.Errorf("bot config from the chart: deploy via %q, Argo CD app %q project %q insecure %v",
			cfg.DeployVia, cfg.ArgoCD.App, cfg.ArgoCD.Project, cfg.ArgoCD.Insecure)
	}
	d := deploymentOf(t, objs)
	if *d.Spec.Replicas != 0 || d.Name != "oil-chatops" || d.Spec.Template.Spec.ServiceAccountName != "oil-chatops-sa" {
		t.Errorf("deployment %s replicas %d sa %s", d.Name, *d.Spec.Replicas, d.Spec.Template.Spec.ServiceAccountName)
	}
	var roles []string
	for _, o := range objs {
		if o.GetKind() == "Role" {
			roles = append(roles, o.GetNamespace()+"/"+o.GetName())
		}
	}
	// The app's Role in the app namespace; the Lease's beside the bot.
	if diff := cmp.Diff([]string{"derrick/oil-chatops-leader", "oil/oil-chatops"}, slices.Sorted(slices.Values(roles))); diff != "" {
		t.Errorf("Roles (-want +got):\n%s", diff)
	}
	if d := deploymentOf(t, objs); d.Spec.Strategy.Type != "RollingUpdate" {
		t.Errorf("strategy %s with leader election, want RollingUpdate", d.Spec.Strategy.Type)
	}
	np := typed[networkingv1.NetworkPolicy](t, find(t, objs, "NetworkPolicy"))
	var egress []string
	for _, r := range np.Spec.Egress {
		var to, ports []string
		for _, p := range r.To {
			if p.IPBlock != nil {
				to = append(to, p.IPBlock.CIDR)
			} else {
				to = append(to, "selector")
			}
		}
		for _, p := range r.Ports {
			ports = append(ports, fmt.Sprintf("%s/%s", p.Port, *p.Protocol))
		}
		egress = append(egress, strings.Join(to, ",")+" "+strings.Join(ports, ","))
	}
	wantEgress := []string{
		"selector 53/UDP,53/TCP",
		"10.0.0.1/32 6443/TCP",
		"149.154.160.0/20,91.108.4.0/22 443/TCP,5000/TCP",
		"10.20.0.0/16 5432/TCP",
	}
	if diff := cmp.Diff(wantEgress, egress); diff != "" {
		t.Errorf("NetworkPolicy egress (-want +got):\n%s", diff)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].Ports[0].Port.String() != "http" {
		t.Errorf("NetworkPolicy ingress %+v, want the http port from metricsFrom", np.Spec.Ingress)
	}
	sm := find(t, objs, "ServiceMonitor")
	if port, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints"); len(port) != 1 {
		t.Errorf("ServiceMonitor endpoints %v", port)
	}
}

// TestTemplateGroupInsteadOfLists: the team's group alone is enough.
func TestTemplateGroupInsteadOfLists(t *testing.T) {
	objs := render(t, "oil", "-f", minimalValues, "--set", "chatops.operators=null", "--set", "chatops.group.id=-1001234567890")
	env := envOf(t, objs, nil)
	for k, v := range map[string]string{
		"CHATOPS_OPERATORS": "", "CHATOPS_GROUP_ID": "-1001234567890", "CHATOPS_GROUP_ADMIN_ROLE": "operator",
		"CHATOPS_GROUP_MEMBER_ROLE": "viewer", "CHATOPS_GROUP_CACHE": "1m",
	} {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s=%q (set %v), want %q", k, got, ok, v)
		}
	}
	cfg := loadConfig(t, env)
	if cfg.Access.GroupID != -1001234567890 || cfg.Access.AdminRole.String() != "operator" || cfg.Access.MemberRole.String() != "viewer" || cfg.Access.CacheTTL.String() != "1m0s" {
		t.Errorf("bot access from the chart: %+v", cfg.Access)
	}
	c := clustertest.Shared(t) // helm install --dry-run=client asks for the server version
	notes, _, err := helm(t, "install", "oil", chartDir, "--dry-run=client", "--kubeconfig", c.Kubeconfig,
		"-f", minimalValues, "--set", "chatops.group.id=-1001234567890")
	if err != nil || !strings.Contains(notes, "Add the bot to that group as an ADMINISTRATOR") {
		t.Errorf("NOTES do not tell to add the bot to the group as an administrator (%v):\n%s", err, notes)
	}
	if env := envOf(t, render(t, "oil", "-f", minimalValues), nil); env["CHATOPS_GROUP_ID"] != "" {
		t.Errorf("CHATOPS_GROUP_ID set without a group: %q", env["CHATOPS_GROUP_ID"])
	}
}

func TestTemplateExistingSecret(t *testing.T) {
	objs := render(t, "oil", "-f", minimalValues, "--set", "telegram.existingSecret=bot-credentials",
		"--set", "telegram.token=", "--set", "registry.username=robot")
	for _, o := range objs {
		if o.GetKind() == "Secret" {
			t.Errorf("a Secret is rendered although existingSecret is set")
		}
	}
	env := envOf(t, objs, map[string]map[string]string{"bot-credentials": {
		"TELEGRAM_BOT_TOKEN": "7000000005:AAExisting_abcdef", "REGISTRY_PASSWORD": "pw",
	}})
	if env["TELEGRAM_BOT_TOKEN"] != "7000000005:AAExisting_abcdef" || env["REGISTRY_PASSWORD"] != "pw" {
		t.Errorf("secrets from existingSecret: %v", env)
	}
	loadConfig(t, env)
}

func TestBadValuesAreRefused(t *testing.T) {
	const schema = "values don't meet the specifications of the schema"
	tests := []struct {
		name string
		set  []string
		want []string
	}{
		{"two replicas without leader election", []string{"replicaCount=2", "leaderElection.enabled=false"}, []string{schema, "at '/leaderElection/enabled': 'not' failed"}},
		{"four replicas", []string{"replicaCount=4"}, []string{schema, "at '/replicaCount': maximum: got 4, want 3"}},
		{"renew deadline not a duration", []string{"leaderElection.renewDeadline=10"}, []string{schema, "at '/leaderElection/renewDeadline'"}},
		{"replicas as text", []string{"replicaCount=one"}, []string{schema, "at '/replicaCount': got string, want integer"}},
		{"operators not a list", []string{"chatops.operators=123"}, []string{schema, "at '/chatops/operators': got number, want array"}},
		{"operator by username", []string{"chatops.operators={@boss}"}, []string{schema, "at '/chatops/operators/0': got string, want integer"}},
		{"negative operator id", []string{"chatops.operators={-5}"}, []string{schema, "at '/chatops/operators/0'"}},
		{"insecure not a boolean", []string{"registry.insecure=yes"}, []string{schema, "at '/registry/insecure': got string, want boolean"}},
		{"duration as number", []string{"bot.maxCommandAge=5"}, []string{schema, "at '/bot/maxCommandAge': got number, want string"}},
		{"duration malformed", []string{"bot.rolloutTimeout=5 minutes"}, []string{schema, "at '/bot/rolloutTimeout'"}},
		{"cache TTL malformed", []string{"registry.cacheTTL=30"}, []string{schema, "at '/registry/cacheTTL'"}},
		{"max replicas too large", []string{"bot.maxReplicas=5000"}, []string{schema, "at '/bot/maxReplicas': maximum"}},
		{"chat queue zero", []string{"bot.chatQueue=0"}, []string{schema, "at '/bot/chatQueue': minimum"}},
		{"command timeout malformed", []string{"bot.commandTimeout=1 minute"}, []string{schema, "at '/bot/commandTimeout'"}},
		{"confirm an unknown command", []string{"bot.confirm={deploy,get_pods}"}, []string{schema, "at '/bot/confirm/1': value must be one of 'deploy', 'rollback', 'set_replicas', 'cordon', 'uncordon'"}},
		{"confirm not a list", []string{"bot.confirm=deploy"}, []string{schema, "at '/bot/confirm': got string, want array"}},
		{"confirm TTL malformed", []string{"bot.confirmTTL=60"}, []string{schema, "at '/bot/confirmTTL'"}},
		{"group logs not a boolean", []string{"bot.groupLogs=yes"}, []string{schema, "at '/bot/groupLogs': got string, want boolean"}},
		{"unknown language", []string{"bot.lang=de"}, []string{schema, "at '/bot/lang': value must be one of 'ru', 'en'"}},
		{"unknown registry source", []string{"registry.source=dockerhub"}, []string{schema, "at '/registry/source': value must be one of 'gitlab', 'oci'"}},
		{"unknown deploy via", []string{"deploy.via=helm"}, []string{schema, "at '/deploy/via': value must be one of 'kubernetes', 'argocd'"}},
		{"argocd without server", []string{"deploy.via=argocd", "argocd.authToken=t"}, []string{"argocd.server is required for deploy.via argocd"}},
		{"argocd without token", []string{"deploy.via=argocd", "argocd.server=https://argocd.example.com"}, []string{"argocd.authToken (or its key in telegram.existingSecret) is required for deploy.via argocd"}},
		{"argocd server not a URL", []string{"argocd.server=argocd.example.com"}, []string{schema, "at '/argocd/server'"}},
		{"argocd app not a name", []string{"argocd.app=Oil App"}, []string{schema, "at '/argocd/app'"}},
		{"argocd project not a name", []string{"argocd.project=Oil_Apps"}, []string{schema, "at '/argocd/project'"}},
		{"argocd insecure not a boolean", []string{"argocd.insecure=yes"}, []string{schema, "at '/argocd/insecure': got string, want boolean"}},
		{"argocd token with a space", []string{"argocd.authToken=a b"}, []string{schema, "at '/argocd/authToken'"}},
		{"port out of range", []string{"bot.httpPort=70000"}, []string{schema, "at '/bot/httpPort'"}},
		{"misspelt key", []string{"replicas=1"}, []string{schema, "additional properties 'replicas' not allowed"}},
		{"no token", []string{"telegram.token="}, []string{"telegram.token or telegram.existingSecret is required"}},
		{"nobody allowed", []string{"chatops.operators=null"}, []string{"chatops.operators, chatops.viewers or chatops.group.id is required"}},
		{"group id positive", []string{"chatops.group.id=12345"}, []string{schema, "at '/chatops/group/id': maximum"}},
		{"group id a name", []string{"chatops.group.id=oil-team"}, []string{schema, "at '/chatops/group/id': got string, want null or integer"}},
		{"group role unknown", []string{"chatops.group.memberRole=reader"}, []string{schema, "at '/chatops/group/memberRole': value must be one of 'operator', 'viewer', 'none'"}},
		{"group admin role unknown", []string{"chatops.group.adminRole=admin"}, []string{schema, "at '/chatops/group/adminRole'"}},
		{"group cache malformed", []string{"chatops.group.cacheTTL=1 minute"}, []string{schema, "at '/chatops/group/cacheTTL'"}},
		{"oci without image", []string{"registry.image="}, []string{"registry.image is required for registry.source oci"}},
		{"gitlab without project", []string{"registry.source=gitlab", "registry.gitlab.url=https://gitlab.example.com", "registry.gitlab.token=t"}, []string{"registry.gitlab.url and registry.gitlab.project are required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"template", "oil-bot", chartDir, "-f", minimalValues}
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			out, stderr, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template accepted %v:\n%.400s", tt.set, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("helm's error lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// TestValuesAreDocumented checks that every key of values.yaml has a
// comment: a key without one must be a group whose keys all have one.
func TestValuesAreDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var undocumented []string
	var walk func(path string, m *yaml.Node)
	walk = func(path string, m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			key, val := m.Content[i], m.Content[i+1]
			p := strings.TrimPrefix(path+"."+key.Value, ".")
			switch {
			case key.HeadComment != "":
			case val.Kind == yaml.MappingNode && len(val.Content) > 0:
				walk(p, val)
			default:
				undocumented = append(undocumented, fmt.Sprintf("%s (line %d)", p, key.Line))
			}
		}
	}
	walk("", doc.Content[0])
	if len(undocumented) > 0 {
		t.Errorf("values.yaml keys without a comment:\n%s", strings.Join(undocumented, "\n"))
	}
}

// TestTemplateConfirmNone: an empty bot.confirm list asks for nothing.
func TestTemplateConfirmNone(t *testing.T) {
	env := envOf(t, render(t, "oil", "-f", minimalValues, "--set", "bot.confirm=null"), nil)
	if env["BOT_CONFIRM"] != "none" {
		t.Errorf("BOT_CONFIRM=%q with bot.confirm empty, want none", env["BOT_CONFIRM"])
	}
	if cfg := loadConfig(t, env); cfg.Core.Confirm != nil {
		t.Errorf("the bot would ask first for %v", cfg.Core.Confirm)
	}
}

package chart

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"gitlab.com/derrick-kit/derrick/internal/clustertest"
)

// argoToken is an Argo CD API token of the tests (a JWT's shape).
const argoToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaTphcGlLZXkifQ.chart-test-signature"

// argoEnv returns the ARGOCD_* and DEPLOY_VIA variables of env.
func argoEnv(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(k, "ARGOCD_") || k == "DEPLOY_VIA" {
			out[k] = v
		}
	}
	return out
}

// tokenRef returns the ARGOCD_AUTH_TOKEN variable of the bot container; it fails
// t unless the variable is a secretKeyRef (never a plain value) of secret.
func tokenRef(t *testing.T, c corev1.Container, secret, key string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != "ARGOCD_AUTH_TOKEN" {
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Fatalf("ARGOCD_AUTH_TOKEN is not taken from a Secret: %+v", e)
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != secret || ref.Key != key || (ref.Optional != nil && *ref.Optional) {
			t.Errorf("ARGOCD_AUTH_TOKEN from Secret %q key %q (optional %v), want %q key %q, required",
				ref.Name, ref.Key, ref.Optional, secret, key)
		}
		return
	}
	t.Fatal("no ARGOCD_AUTH_TOKEN in the bot's environment")
}

// TestTemplateArgoCD renders deploy.via argocd: the bot gets ARGOCD_SERVER,
// ARGOCD_APP (default oil-refinery-application), ARGOCD_PROJECT when set and
// ARGOCD_INSECURE as values, and ARGOCD_AUTH_TOKEN only by reference to the
// chart's Secret or existingSecret; the bot accepts that environment, and its
// Role may read the Deployment but no longer patch it. With deploy.via
// kubernetes the argocd values are not passed on.
func TestTemplateArgoCD(t *testing.T) {
	argo := []string{"-f", minimalValues, "--set", "deploy.via=argocd",
		"--set", "argocd.server=http://argocd-server.argocd.svc", "--set", "argocd.authToken=" + argoToken}

	t.Run("token in the chart's Secret", func(t *testing.T) {
		objs := render(t, "oil", argo...)
		d := deploymentOf(t, objs)
		tokenRef(t, d.Spec.Template.Spec.Containers[0], "oil-bot-derrick-bot", "ARGOCD_AUTH_TOKEN")
		secret := typed[corev1.Secret](t, find(t, objs, "Secret"))
		if got := string(secret.Data["ARGOCD_AUTH_TOKEN"]); got != argoToken {
			t.Errorf("Secret %s: ARGOCD_AUTH_TOKEN = %q, want the token", secret.Name, got)
		}
		// Only the Secret holds it (base64-encoded).
		manifest, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{argoToken, base64.StdEncoding.EncodeToString([]byte(argoToken))} {
			if strings.Contains(string(manifest), form) {
				t.Errorf("the Deployment contains the token (%.12s...)", form)
			}
		}

		env := envOf(t, objs, nil)
		want := map[string]string{
			"DEPLOY_VIA":        "argocd",
			"ARGOCD_SERVER":     "http://argocd-server.argocd.svc",
			"ARGOCD_AUTH_TOKEN": argoToken,
			"ARGOCD_APP":        "oil-refinery-application",
			"ARGOCD_INSECURE":   "false",
		}
		if diff := cmp.Diff(want, argoEnv(env)); diff != "" {
			t.Errorf("Argo CD variables (-want +got):\n%s", diff)
		}
		// Argo CD changes the Deployment: the bot only reads it.
		role := typed[rbacv1.Role](t, find(t, objs, "Role"))
		wantRule := rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"},
			ResourceNames: []string{"oil-refinery-application"}, Verbs: []string{"get"}}
		if len(role.Rules) == 0 || !cmp.Equal(role.Rules[0], wantRule) {
			t.Errorf("Role rules %+v, want first %+v", role.Rules, wantRule)
		}
		// Nor is there a Deployment patch to narrow: only the node policy.
		if p := typed[admissionregistrationv1.ValidatingAdmissionPolicy](t, find(t, objs, "ValidatingAdmissionPolicy")); p.Spec.MatchConstraints.ResourceRules[0].Resources[0] != "nodes" {
			t.Errorf("policy %s for deploy.via argocd, want only the node policy", p.Name)
		}
		cfg := loadConfig(t, env)
		if cfg.DeployVia != "argocd" || cfg.ArgoCD.Server != "http://argocd-server.argocd.svc" || cfg.ArgoCD.Token != argoToken ||
			cfg.ArgoCD.App != "oil-refinery-application" || cfg.ArgoCD.Project != "" || cfg.ArgoCD.Insecure {
			t.Errorf("the bot reads deploy via %q, Argo CD server %q app %q project %q insecure %v, token set %v",
				cfg.DeployVia, cfg.ArgoCD.Server, cfg.ArgoCD.App, cfg.ArgoCD.Project, cfg.ArgoCD.Insecure, cfg.ArgoCD.Token == argoToken)
		}
	})

	t.Run("token in existingSecret", func(t *testing.T) {
		objs := render(t, "oil", "-f", minimalValues, "--set", "deploy.via=argocd",
			"--set", "argocd.server=https://argocd.example.com", "--set", "argocd.app=refinery",
			"--set", "argocd.project=oil", "--set", "argocd.insecure=true",
			"--set", "telegram.token=", "--set", "telegram.existingSecret=bot-credentials",
			"--set", "telegram.existingSecretKeys.argocdAuthToken=argo-token")
		for _, o := range objs {
			if o.GetKind() == "Secret" {
				t.Errorf("a Secret is rendered although existingSecret is set")
			}
		}
		tokenRef(t, deploymentOf(t, objs).Spec.Template.Spec.Containers[0], "bot-credentials", "argo-token")
		env := envOf(t, objs, map[string]map[string]string{"bot-credentials": {
			"TELEGRAM_BOT_TOKEN": "7000000005:AAExisting_abcdef", "argo-token": argoToken,
		}})
		want := map[string]string{
			"DEPLOY_VIA":        "argocd",
			"ARGOCD_SERVER":     "https://argocd.example.com",
			"ARGOCD_AUTH_TOKEN": argoToken,
			"ARGOCD_APP":        "refinery",
			"ARGOCD_PROJECT":    "oil",
			"ARGOCD_INSECURE":   "true",
		}
		if diff := cmp.Diff(want, argoEnv(env)); diff != "" {
			t.Errorf("Argo CD variables (-want +got):\n%s", diff)
		}
		cfg := loadConfig(t, env)
		if cfg.ArgoCD.Project != "oil" || !cfg.ArgoCD.Insecure || cfg.ArgoCD.Token != argoToken {
			t.Errorf("the bot reads Argo CD project %q insecure %v, token set %v", cfg.ArgoCD.Project, cfg.ArgoCD.Insecure, cfg.ArgoCD.Token == argoToken)
		}
	})

	t.Run("kubernetes leaves argocd out", func(t *testing.T) {
		objs := render(t, "oil", append(argo, "--set", "deploy.via=kubernetes")...)
		if got := argoEnv(envOf(t, objs, nil)); !cmp.Equal(got, map[string]string{"DEPLOY_VIA": "kubernetes"}) {
			t.Errorf("Argo CD variables with deploy.via kubernetes: %v", got)
		}
		secret := typed[corev1.Secret](t, find(t, objs, "Secret"))
		if _, ok := secret.Data["ARGOCD_AUTH_TOKEN"]; ok {
			t.Error("the Secret stores the Argo CD token although deploy.via is kubernetes")
		}
	})

	t.Run("lint", func(t *testing.T) {
		out, stderr, err := helm(t, append([]string{"lint", "--strict", chartDir}, argo...)...)
		if err != nil || !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") ||
			strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
			t.Errorf("helm lint --strict: %v\n%s%s", err, out, stderr)
		}
	})

	t.Run("NOTES", func(t *testing.T) {
		c := clustertest.Shared(t) // helm install --dry-run=client asks for the server version
		out, stderr, err := helm(t, append([]string{"install", "notes", chartDir, "-n", "notes",
			"--dry-run=client", "--kubeconfig", c.Kubeconfig}, argo...)...)
		if err != nil {
			t.Fatalf("helm install --dry-run: %v\n%s", err, stderr)
		}
		i := strings.Index(out, "NOTES:")
		if i < 0 {
			t.Fatalf("no NOTES in:\n%s", out)
		}
		notes := out[i:]
		if want := "/deploy and /set_replicas go through Argo CD: Application oil-refinery-application on http://argocd-server.argocd.svc."; !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
		if strings.Contains(out, argoToken) {
			t.Error("helm's output shows the Argo CD token")
		}
	})
}

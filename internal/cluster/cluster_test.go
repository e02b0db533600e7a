package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
)

func TestPing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cs       func() *fake.Clientset
		wantText string // "" means no error
	}{
		{"deployment exists", func() *fake.Clientset { return fake.NewClientset(deployment()) }, ""},
		{"deployment missing still answers", func() *fake.Clientset { return fake.NewClientset() }, ""},
		{"forbidden", func() *fake.Clientset {
			cs := fake.NewClientset(deployment())
			failWith(cs, "get", "deployments", "", forbidden("deployments.apps", testDeploy))
			return cs
		}, "reach the Kubernetes API (get deployment prod/oil-refinery-application): "},
		{"credentials rejected", func() *fake.Clientset {
			cs := fake.NewClientset(deployment())
			failWith(cs, "get", "deployments", "", apierrors.NewUnauthorized("Unauthorized"))
			return cs
		}, "check KUBECONFIG or the pod's ServiceAccount token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cluster.New(tc.cs(), target).Ping(t.Context())
			switch {
			case tc.wantText == "" && err != nil:
				t.Errorf("Ping: %v", err)
			case tc.wantText != "" && (err == nil || !strings.Contains(err.Error(), tc.wantText)):
				t.Errorf("Ping = %v, want an error containing %q", err, tc.wantText)
			}
		})
	}
}

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	kc := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"c": {Server: server}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"u": {Token: "t0ken"}},
		Contexts:       map[string]*clientcmdapi.Context{"x": {Cluster: "c", AuthInfo: "u"}},
		CurrentContext: "x",
	}
	if err := clientcmd.WriteToFile(kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

const (
	protobuf = "application/vnd.kubernetes.protobuf"
	accept   = "application/vnd.kubernetes.protobuf,application/json"
)

func TestConfig(t *testing.T) {
	type settings struct {
		Host, BearerToken, UserAgent string
		Timeout                      time.Duration
		QPS                          float32
		Burst                        int
		ContentType, Accept          string
	}
	file := writeKubeconfig(t, "https://k8s.example.com:6443")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name       string
		kubeconfig string
		want       settings
	}{
		{"one file", file, settings{"https://k8s.example.com:6443", "t0ken", "derrick-bot", 15 * time.Second, 20, 40, protobuf, accept}},
		{"a list with a missing file", missing + string(os.PathListSeparator) + file,
			settings{"https://k8s.example.com:6443", "t0ken", "derrick-bot", 15 * time.Second, 20, 40, protobuf, accept}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := cluster.Config(tc.kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			got := settings{cfg.Host, cfg.BearerToken, cfg.UserAgent, cfg.Timeout, cfg.QPS, cfg.Burst, cfg.ContentType, cfg.AcceptContentTypes}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name, kubeconfig string
		wantText         []string
	}{
		{"missing file", missing, []string{"load kubeconfig " + missing + " (from KUBECONFIG): ", "no such file"}},
		{"no KUBECONFIG outside a pod", "", []string{"set KUBECONFIG or run in a pod with a ServiceAccount"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			t.Setenv("KUBERNETES_SERVICE_PORT", "")
			_, err := cluster.Config(tc.kubeconfig)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestNamespaceFromServiceAccount(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		content *string // nil: no file
		want    string
		wantOK  bool
	}{
		{"in a pod", ptrString("prod\n"), "prod", true},
		{"not in a pod", nil, "", false},
		{"empty file", ptrString(" \n"), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if tc.content != nil {
				if err := os.WriteFile(path, []byte(*tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(cluster.SetServiceAccountNamespaceFile(path))
			got, ok := cluster.NamespaceFromServiceAccount()
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("NamespaceFromServiceAccount() = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func ptrString(s string) *string { return &s }

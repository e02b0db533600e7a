package clustertest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig file for cfg with every credential
// embedded, whose only context uses namespace ("" means default).
// Impersonation settings of cfg are kept.
func WriteKubeconfig(path string, cfg *rest.Config, namespace string) error {
	auth := &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		ClientCertificate:     cfg.CertFile,
		ClientKey:             cfg.KeyFile,
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		Impersonate:           cfg.Impersonate.UserName,
		ImpersonateUID:        cfg.Impersonate.UID,
		ImpersonateGroups:     cfg.Impersonate.Groups,
		ImpersonateUserExtra:  cfg.Impersonate.Extra,
	}
	kc := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"clustertest": {
			Server:                   cfg.Host,
			CertificateAuthorityData: cfg.CAData,
			CertificateAuthority:     cfg.CAFile,
		}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{"clustertest": auth},
		Contexts: map[string]*clientcmdapi.Context{"clustertest": {
			Cluster: "clustertest", AuthInfo: "clustertest", Namespace: namespace,
		}},
		CurrentContext: "clustertest",
	}
	if err := clientcmd.WriteToFile(kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// ServiceAccountConfig returns a client config that authenticates with a
// fresh token of ServiceAccount namespace/name, minted through the
// TokenRequest API (like `kubectl create token`). The ServiceAccount must
// exist.
func (c *Cluster) ServiceAccountConfig(ctx context.Context, t testing.TB, namespace, name string) *rest.Config {
	t.Helper()
	expiry := int64(time.Hour / time.Second)
	tr, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create token for service account %s/%s: %v", namespace, name, err)
	}
	return &rest.Config{
		Host:            c.Config.Host,
		BearerToken:     tr.Status.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM},
	}
}

// ServiceAccountKubeconfig writes a kubeconfig for ServiceAccountConfig,
// with namespace as its context namespace, into t.TempDir() and returns
// its path: for running a binary under test as that ServiceAccount.
func (c *Cluster) ServiceAccountKubeconfig(ctx context.Context, t testing.TB, namespace, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := WriteKubeconfig(path, c.ServiceAccountConfig(ctx, t, namespace, name), namespace); err != nil {
		t.Fatal(err)
	}
	return path
}

// ImpersonatedConfig returns the admin config impersonating user and
// groups, so the apiserver authorizes every request as that user (as
// `kubectl --as=user --as-group=group` does). For a ServiceAccount use
// user "system:serviceaccount:NAMESPACE:NAME" and groups
// "system:serviceaccounts" and "system:serviceaccounts:NAMESPACE".
func (c *Cluster) ImpersonatedConfig(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// CAData is the PEM-encoded certificate authority of the apiserver.
func (c *Cluster) CAData() []byte { return append([]byte(nil), c.caPEM...) }

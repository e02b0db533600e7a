// Package cluster is everything the ChatOps bot does to Kubernetes: list
// nodes and cordon or uncordon them, list the pods of the application
// Deployment and tail their logs, scale the Deployment, set its image and
// follow the rollout. It works on kubernetes.Interface, so tests use the
// client-go fake, and knows nothing about Telegram.
//
// Every method checks whether anything needs doing before it writes, and
// every error names the object and wraps the API error with %w (so
// apierrors.IsForbidden and friends still work); not-found cases also wrap
// one of the sentinel errors below.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Sentinel errors, for errors.Is.
var (
	// ErrNodeNotFound: no node of that name.
	ErrNodeNotFound = errors.New("node not found")
	// ErrDeploymentNotFound: the target Deployment does not exist.
	ErrDeploymentNotFound = errors.New("deployment not found")
	// ErrContainerNotFound: Target.Container is not a container of the
	// Deployment's pod template.
	ErrContainerNotFound = errors.New("container not found")
	// ErrPodNotInDeployment: the pod does not exist or the Deployment's
	// selector does not select it.
	ErrPodNotInDeployment = errors.New("not a pod of the deployment")
	// ErrRolloutFailed: the rollout cannot finish by itself (progress
	// deadline exceeded, or the Deployment is paused).
	ErrRolloutFailed = errors.New("rollout failed")
)

// Target names the Deployment the bot manages.
type Target struct {
	Namespace  string
	Deployment string
	// Container is the application container; "" means the first
	// container of the Deployment's pod template.
	Container string
}

func (t Target) String() string { return t.Namespace + "/" + t.Deployment }

// Client does the bot's work on one cluster for one Target. It is safe for
// concurrent use.
type Client struct {
	cs kubernetes.Interface
	t  Target
}

// New returns a Client for cs that manages Deployment t.
func New(cs kubernetes.Interface, t Target) *Client {
	return &Client{cs: cs, t: t}
}

// Ping checks that the API server answers and accepts the bot's
// credentials, by reading the target Deployment. A missing Deployment
// still counts as reachable; use Deployment to check that it exists.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.cs.AppsV1().Deployments(c.t.Namespace).Get(ctx, c.t.Deployment, metav1.GetOptions{})
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	return apiError(fmt.Sprintf("reach the Kubernetes API (get deployment %s)", c.t), "get deployments", "Role", err)
}

// apiError wraps err as "<doing>: <err>" and, when the cause is known,
// appends the fix. verb names what the bot needed ("patch nodes") and
// role which RBAC object grants it ("ClusterRole" or "Role").
func apiError(doing, verb, role string, err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: %w (the bot's ServiceAccount lacks permission to %s: check the chart's %s)", doing, err, verb, role)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: %w (the API server rejected the bot's credentials: check KUBECONFIG or the pod's ServiceAccount token)", doing, err)
	case apierrors.IsTooManyRequests(err):
		return fmt.Errorf("%s: %w (the API server is throttling requests: try again shortly)", doing, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", doing, err)
	case timedOut(err):
		return fmt.Errorf("%s: %w (the Kubernetes API server did not answer in time)", doing, err)
	}
	var (
		urlErr *url.Error
		netErr net.Error
	)
	if errors.As(err, &urlErr) || errors.As(err, &netErr) {
		// No answer at all: refused, reset, DNS, TLS.
		return fmt.Errorf("%s: %w (the Kubernetes API server is unreachable)", doing, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// timedOut reports whether err is a deadline: the request's (Config's
// timeout), the caller's context, or the API server's own.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) ||
		apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
}

// retryable reports whether err may go away by itself: anything but an
// answer that says the request itself is wrong or not allowed. A request
// that hit its own timeout is retryable; callers check their context first.
func retryable(err error) bool {
	if errors.Is(err, ErrDeploymentNotFound) || errors.Is(err, ErrContainerNotFound) ||
		errors.Is(err, context.Canceled) {
		return false
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // network error, timeout
	}
	code := status.Status().Code
	return code == http.StatusTooManyRequests || code >= 500 || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)
}

// serviceAccountNamespaceFile is where Kubernetes mounts the pod's
// namespace; tests change it.
var serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// NamespaceFromServiceAccount returns the namespace of the pod the program
// runs in, read from its mounted ServiceAccount, and false outside a pod
// (or when the file is empty or unreadable).
func NamespaceFromServiceAccount() (string, bool) {
	data, err := os.ReadFile(serviceAccountNamespaceFile)
	if err != nil {
		return "", false
	}
	ns := strings.TrimSpace(string(data))
	return ns, ns != ""
}

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Where Argo CD records which Application manages a resource, in the order
// Deployment looks: the annotation of annotation-based tracking
// ("APP:GROUP/KIND:NAMESPACE/NAME", Argo CD 3's default), the label Argo
// CD's docs recommend as application.instanceLabelKey, and the default
// label of label-based tracking (Argo CD 2's default). Helm charts set
// app.kubernetes.io/instance too, so a Deployment installed by Helm alone
// is reported as managed by an Application named after the release.
const (
	ArgoTrackingIDAnnotation = "argocd.argoproj.io/tracking-id"
	ArgoInstanceLabel        = "argocd.argoproj.io/instance"
	AppInstanceLabel         = "app.kubernetes.io/instance"
	helmReleaseAnnotation    = "meta.helm.sh/release-name"
)

// Deployment is the target Deployment as the bot needs it.
type Deployment struct {
	Name, Namespace string
	// Container is the application container (Target.Container or the
	// first) and Image its image.
	Container, Image string
	// Replicas is spec.replicas (1 when unset).
	Replicas int32
	// ArgoApp is the Argo CD Application that manages the Deployment, ""
	// when none does. Changing such a Deployment directly is reverted by
	// Argo CD's self-heal; change it through Argo CD instead.
	ArgoApp string
	// ArgoTrackedBy is the label or annotation ArgoApp was read from.
	ArgoTrackedBy string
}

// Deployment reads the target Deployment. A missing Deployment gives an
// error wrapping ErrDeploymentNotFound, a Target.Container it does not
// have one wrapping ErrContainerNotFound.
func (c *Client) Deployment(ctx context.Context) (Deployment, error) {
	d, name, err := c.getContainer(ctx)
	if err != nil {
		return Deployment{}, err
	}
	out := Deployment{
		Name:      d.Name,
		Namespace: d.Namespace,
		Container: name,
		Image:     imageOf(d, name),
		Replicas:  ptr.Deref(d.Spec.Replicas, 1),
	}
	out.ArgoApp, out.ArgoTrackedBy = argoAppOf(&d.ObjectMeta)
	return out, nil
}

// argoAppOf returns the Argo CD Application tracking m and where it was
// found, or "", "".
func argoAppOf(m *metav1.ObjectMeta) (app, trackedBy string) {
	if id := m.Annotations[ArgoTrackingIDAnnotation]; id != "" {
		app, _, _ = strings.Cut(id, ":")
		if app != "" {
			return app, "annotation " + ArgoTrackingIDAnnotation
		}
	}
	if v := m.Labels[ArgoInstanceLabel]; v != "" {
		return v, "label " + ArgoInstanceLabel
	}
	// Argo CD's default tracking label before v3. Helm sets it too; a
	// release installed by helm itself carries meta.helm.sh/release-name,
	// which Argo CD (rendering with helm template) does not add.
	if v := m.Labels[AppInstanceLabel]; v != "" && m.Annotations[helmReleaseAnnotation] == "" {
		return v, "label " + AppInstanceLabel
	}
	return "", ""
}

// get reads the target Deployment.
func (c *Client) get(ctx context.Context) (*appsv1.Deployment, error) {
	d, err := c.cs.AppsV1().Deployments(c.t.Namespace).Get(ctx, c.t.Deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deployment %s: %w (check the namespace and name the bot is configured with)", c.t, ErrDeploymentNotFound)
	}
	if err != nil {
		return nil, apiError(fmt.Sprintf("get deployment %s", c.t), "get deployments", "Role", err)
	}
	return d, nil
}

// getContainer reads the target Deployment and names its application container.
func (c *Client) getContainer(ctx context.Context) (*appsv1.Deployment, string, error) {
	d, err := c.get(ctx)
	if err != nil {
		return nil, "", err
	}
	name, err := c.container(d)
	return d, name, err
}

// container returns the name of the application container of d.
func (c *Client) container(d *appsv1.Deployment) (string, error) {
	cs := d.Spec.Template.Spec.Containers
	if c.t.Container == "" {
		if len(cs) == 0 {
			return "", fmt.Errorf("deployment %s: %w: it has no containers", c.t, ErrContainerNotFound)
		}
		return cs[0].Name, nil
	}
	names := make([]string, 0, len(cs))
	for _, ct := range cs {
		if ct.Name == c.t.Container {
			return ct.Name, nil
		}
		names = append(names, ct.Name)
	}
	return "", fmt.Errorf("deployment %s: %w: no container %q (it has %s)", c.t, ErrContainerNotFound, c.t.Container, strings.Join(names, ", "))
}

func imageOf(d *appsv1.Deployment, container string) string {
	for _, ct := range d.Spec.Template.Spec.Containers {
		if ct.Name == container {
			return ct.Image
		}
	}
	return ""
}

// Scale sets spec.replicas of the Deployment and returns the previous
// value. When it already is replicas nothing is written.
func (c *Client) Scale(ctx context.Context, replicas int32) (prev int32, err error) {
	if replicas < 0 {
		return 0, fmt.Errorf("scale deployment %s to %d: replicas must not be negative", c.t, replicas)
	}
	d, err := c.get(ctx)
	if err != nil {
		return 0, err
	}
	prev = ptr.Deref(d.Spec.Replicas, 1)
	if prev == replicas {
		return prev, nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if _, err := c.cs.AppsV1().Deployments(c.t.Namespace).Patch(ctx, c.t.Deployment, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return prev, c.patchError(fmt.Sprintf("scale deployment %s to %d", c.t, replicas), err)
	}
	return prev, nil
}

// ChangeCauseAnnotation is the Deployment annotation `kubectl rollout
// history` shows as CHANGE-CAUSE; the Deployment controller copies it to
// the ReplicaSet of the rollout.
const ChangeCauseAnnotation = "kubernetes.io/change-cause"

// SetImage is SetImageCause without a cause (internal/demo's tests call it).
func (c *Client) SetImage(ctx context.Context, image string) (prev string, err error) {
	return c.SetImageCause(ctx, image, "")
}

// SetImageCause sets the image of the application container and returns the
// previous one; cause (such as "/deploy 0.10.5 by @user (1001)"), unless "",
// becomes the Deployment's kubernetes.io/change-cause in the same patch.
// When the image already is image nothing is written. Only that container's
// image changes (a strategic merge patch, like kubectl set image), so the
// Deployment controller starts a rollout; follow it with WaitRollout.
func (c *Client) SetImageCause(ctx context.Context, image, cause string) (prev string, err error) {
	if image == "" || strings.ContainsAny(image, " \t\r\n") {
		return "", fmt.Errorf("set image of deployment %s: invalid image reference %q", c.t, image)
	}
	d, name, err := c.getContainer(ctx)
	if err != nil {
		return "", err
	}
	prev = imageOf(d, name)
	if prev == image {
		return prev, nil
	}
	patch := map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]string{{"name": name, "image": image}},
	}}}}
	if cause != "" {
		patch["metadata"] = map[string]any{"annotations": map[string]string{ChangeCauseAnnotation: cause}}
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return prev, fmt.Errorf("set image of deployment %s: %w", c.t, err)
	}
	if _, err := c.cs.AppsV1().Deployments(c.t.Namespace).Patch(ctx, c.t.Deployment, types.StrategicMergePatchType, data, metav1.PatchOptions{}); err != nil {
		return prev, c.patchError(fmt.Sprintf("set image of container %q of deployment %s to %q", name, c.t, image), err)
	}
	return prev, nil
}

func (c *Client) patchError(doing string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: %w", doing, ErrDeploymentNotFound)
	}
	return apiError(doing, "patch deployments", "Role", err)
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// maxLogBytes bounds what Logs reads, whatever the line lengths.
const maxLogBytes = 1 << 20

// Pod is one pod of the Deployment as /get_pods shows it.
type Pod struct {
	Name string
	// Phase is status.phase: Pending, Running, Succeeded, Failed, Unknown.
	Phase string
	// Status is what `kubectl get pods` shows in STATUS: the phase, or a
	// more telling reason such as CrashLoopBackOff, ImagePullBackOff,
	// ContainerCreating, Completed or Terminating.
	Status string
	// Ready of Containers containers are ready.
	Ready, Containers int
	// Restarts is the sum of the containers' restart counts.
	Restarts int32
	// Node is where the pod was scheduled, "" while it waits.
	Node    string
	Created time.Time
}

// Pods lists the pods the Deployment's spec.selector selects (as
// `kubectl get pods -l`), including those of older ReplicaSets and those
// terminating, sorted by name.
func (c *Client) Pods(ctx context.Context) ([]Pod, error) {
	d, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	sel, err := selectorOf(d)
	if err != nil {
		return nil, err
	}
	list, err := c.cs.CoreV1().Pods(c.t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, apiError(fmt.Sprintf("list pods of deployment %s", c.t), "list pods", "Role", err)
	}
	out := make([]Pod, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, podOf(&list.Items[i]))
	}
	slices.SortFunc(out, func(a, b Pod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func selectorOf(d *appsv1.Deployment) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	if sel.Empty() {
		// Never the case for a valid apps/v1 Deployment; an empty
		// selector would select every pod of the namespace.
		return nil, fmt.Errorf("deployment %s/%s has an empty selector", d.Namespace, d.Name)
	}
	return sel, nil
}

func podOf(p *corev1.Pod) Pod {
	out := Pod{
		Name:       p.Name,
		Phase:      string(p.Status.Phase),
		Containers: len(p.Spec.Containers),
		Node:       p.Spec.NodeName,
		Created:    p.CreationTimestamp.Time,
	}
	status := string(p.Status.Phase)
	if p.Status.Reason != "" {
		status = p.Status.Reason
	}
	for _, cs := range p.Status.ContainerStatuses {
		out.Restarts += cs.RestartCount
		if cs.Ready {
			out.Ready++
		}
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			status = cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
			status = cs.State.Terminated.Reason
		}
	}
	if p.DeletionTimestamp != nil {
		status = "Terminating"
	}
	out.Status = status
	return out
}

// Logs returns the last lines lines of the application container
// (Target.Container, else the Deployment's first container) of pod, at most
// 1 MiB. It first checks that the pod belongs to the Deployment: the
// Deployment's selector selects it, and its controller is a ReplicaSet whose
// controller is the Deployment, by UID (labels alone can be copied by any
// workload in the namespace). Any other pod, or a pod that does not exist, is
// refused with an error wrapping ErrPodNotInDeployment, without reading a log.
func (c *Client) Logs(ctx context.Context, pod string, lines int64) ([]string, error) {
	if lines <= 0 {
		return nil, fmt.Errorf("logs of pod %q: lines must be positive, got %d", pod, lines)
	}
	// The Deployment and the pod are read at once: /get_logs is the command
	// an operator repeats most, and each round trip counts.
	pods := c.cs.CoreV1().Pods(c.t.Namespace)
	var (
		p      *corev1.Pod
		podErr error
		got    = make(chan struct{})
	)
	go func() {
		p, podErr = pods.Get(ctx, pod, metav1.GetOptions{})
		close(got)
	}()
	d, container, err := c.getContainer(ctx)
	<-got
	if err != nil {
		return nil, err
	}
	sel, err := selectorOf(d)
	if err != nil {
		return nil, err
	}
	if apierrors.IsNotFound(podErr) {
		return nil, fmt.Errorf("logs of pod %q: %w %s: no such pod", pod, ErrPodNotInDeployment, c.t)
	}
	if podErr != nil {
		return nil, apiError(fmt.Sprintf("logs of pod %q", pod), "get pods", "Role", podErr)
	}
	if !sel.Matches(labels.Set(p.Labels)) {
		return nil, fmt.Errorf("logs of pod %q: %w %s: its labels do not match the selector %s", pod, ErrPodNotInDeployment, c.t, sel)
	}
	if err := c.ownedByDeployment(ctx, p, d); err != nil {
		return nil, err
	}

	stream, err := pods.GetLogs(pod, &corev1.PodLogOptions{
		Container:  container,
		TailLines:  &lines,
		LimitBytes: ptr.To[int64](maxLogBytes),
	}).Stream(ctx)
	if err != nil {
		return nil, apiError(fmt.Sprintf("logs of container %q of pod %q", container, pod), "get pods/log", "Role", err)
	}
	defer stream.Close()
	data, err := io.ReadAll(io.LimitReader(stream, maxLogBytes))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, apiError(fmt.Sprintf("read logs of container %q of pod %q", container, pod), "get pods/log", "Role", err)
	}
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return []string{}, nil
	}
	return strings.Split(text, "\n"), nil
}

// ownedByDeployment checks the chain of controllers the Deployment
// controller creates: pod → ReplicaSet → Deployment, comparing UIDs, so
// that neither a look-alike pod (bare, or of a StatefulSet, Job or another
// Deployment with the same labels) nor a ReplicaSet recreated under the
// same name passes. The ReplicaSet is read only when the pod names one.
func (c *Client) ownedByDeployment(ctx context.Context, p *corev1.Pod, d *appsv1.Deployment) error {
	notOurs := func(why string, args ...any) error {
		return fmt.Errorf("logs of pod %q: %w %s: %s", p.Name, ErrPodNotInDeployment, c.t, fmt.Sprintf(why, args...))
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "ReplicaSet" || !strings.HasPrefix(ref.APIVersion, "apps/") {
		return notOurs("it is not controlled by a ReplicaSet of the deployment")
	}
	rs, err := c.cs.AppsV1().ReplicaSets(c.t.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return notOurs("its ReplicaSet %s does not exist", ref.Name)
	}
	if err != nil {
		return apiError(fmt.Sprintf("logs of pod %q: get its ReplicaSet %s", p.Name, ref.Name), "get replicasets", "Role", err)
	}
	if rs.UID != ref.UID {
		return notOurs("its ReplicaSet %s is not the one it was created by (UID %s, not %s)", ref.Name, rs.UID, ref.UID)
	}
	owner := metav1.GetControllerOf(rs)
	if owner == nil || owner.Kind != "Deployment" || owner.Name != d.Name || owner.UID != d.UID {
		return notOurs("its ReplicaSet %s is not controlled by the deployment", ref.Name)
	}
	return nil
}

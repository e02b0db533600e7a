package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Run plays the cluster's controllers until ctx ends: it places new pods
// on schedulable nodes, starts them after Timing.PodStart, replaces pods of
// an old template with a rolling update (25% surge, 25% unavailable, as
// Kubernetes' defaults round them), removes surplus pods after
// Timing.PodStop in Terminating, and keeps the Deployment's status as the
// Deployment controller does. It returns ctx's error.
func (c *Cluster) Run(ctx context.Context) error {
	tick := time.NewTicker(c.t.Tick)
	defer tick.Stop()
	for {
		if err := c.reconcile(ctx, time.Now()); err != nil && ctx.Err() == nil {
			// The fake clientset fails only on programming errors; keep
			// going so that one bad write does not freeze the demo.
			c.log.Error("simulated cluster", "error", err)
		}
		// The fake records every request it serves; a demo left running
		// for a day must not keep them all.
		c.fake.ClearActions()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-c.kick:
		}
	}
}

// reconcile does one round of the controllers' work at time now.
func (c *Cluster) reconcile(ctx context.Context, now time.Time) error {
	d, err := c.fake.AppsV1().Deployments(Namespace).Get(ctx, Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get deployment: %w", err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("selector: %w", err)
	}
	list, err := c.fake.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	nodeList, err := c.fake.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	if err := c.syncCordonTaints(ctx, nodeList.Items); err != nil {
		return err
	}
	hash := templateHash(&d.Spec.Template)
	if err := c.syncReplicaSets(ctx, d, hash, list.Items); err != nil {
		return err
	}
	pods := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })

	// The kubelet and the scheduler: pods go away, get placed, start.
	var live []*corev1.Pod
	for _, p := range pods {
		s := c.pods[p.Name]
		if s == nil { // not ours: take it as it is
			s = &simPod{readyAt: now}
			c.pods[p.Name] = s
		}
		switch {
		case !s.goneAt.IsZero():
			if !now.Before(s.goneAt) {
				if err := c.fake.CoreV1().Pods(Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
					return fmt.Errorf("delete pod %s: %w", p.Name, err)
				}
				delete(c.pods, p.Name)
			}
			continue
		case p.Spec.NodeName == "":
			changed := true
			if n := pickNode(nodeList.Items, pods); n != "" {
				c.setScheduled(p, n, now)
				s.readyAt = now.Add(c.jitter(c.t.PodStart))
			} else {
				changed = setUnschedulable(p, nodeList.Items, now)
			}
			if changed {
				if err := c.updatePod(ctx, p); err != nil {
					return err
				}
			}
		case !podReady(p) && !now.Before(s.readyAt):
			c.setRunning(p, now)
			if err := c.updatePod(ctx, p); err != nil {
				return err
			}
		}
		live = append(live, p)
	}
	for name := range c.pods { // forget pods someone else deleted
		if !slices.ContainsFunc(pods, func(p *corev1.Pod) bool { return p.Name == name }) {
			delete(c.pods, name)
		}
	}

	// The ReplicaSet and Deployment controllers: the right number of pods
	// of the current template.
	desired := ptr.Deref(d.Spec.Replicas, 1)
	var current, old []*corev1.Pod
	for _, p := range live {
		if p.Labels["pod-template-hash"] == hash {
			current = append(current, p)
		} else {
			old = append(old, p)
		}
	}
	remove := func(p *corev1.Pod) error {
		p.DeletionTimestamp = ptr.To(metav1.NewTime(now))
		p.DeletionGracePeriodSeconds = ptr.To[int64](30)
		c.pods[p.Name].goneAt = now.Add(c.t.PodStop)
		return c.updatePod(ctx, p)
	}
	surge, unavailable := rollingLimits(d, desired)
	if len(old) > 0 {
		// Old pods go while enough pods stay available; those that are
		// not available go first, at no cost.
		canLose := countReady(live) - (desired - unavailable)
		slices.SortStableFunc(old, func(a, b *corev1.Pod) int { return boolCompare(podReady(a), podReady(b)) })
		kept := old[:0:0]
		for _, p := range old {
			if podReady(p) {
				if canLose <= 0 {
					kept = append(kept, p)
					continue
				}
				canLose--
			}
			if err := remove(p); err != nil {
				return err
			}
		}
		old = kept
	}
	total := int32(len(current) + len(old))
	if n := int32(len(current)); n < desired {
		room := desired - n
		if len(old) > 0 {
			room = min(room, desired+surge-total)
		}
		for range max(room, 0) {
			p := c.podObject(d, hash, now)
			if n := pickNode(nodeList.Items, live); n != "" {
				c.setScheduled(p, n, now)
			} else {
				setUnschedulable(p, nodeList.Items, now)
			}
			if _, err := c.fake.CoreV1().Pods(Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("create pod %s: %w", p.Name, err)
			}
			c.pods[p.Name] = &simPod{readyAt: now.Add(c.jitter(c.t.PodStart))}
			current = append(current, p)
			live = append(live, p)
		}
	} else if n > desired {
		// Scale down: pods that are not placed or not ready first, then
		// the newest, as the ReplicaSet controller ranks them.
		slices.SortStableFunc(current, func(a, b *corev1.Pod) int {
			if c := boolCompare(a.Spec.NodeName != "", b.Spec.NodeName != ""); c != 0 {
				return c
			}
			if c := boolCompare(podReady(a), podReady(b)); c != 0 {
				return c
			}
			return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
		})
		for _, p := range current[:n-desired] {
			if err := remove(p); err != nil {
				return err
			}
		}
		current = current[n-desired:]
	}
	return c.updateStatus(ctx, d, hash, current, old, desired, unavailable, now)
}

// syncReplicaSets does the Deployment controller's bookkeeping of
// revisions: the ReplicaSet of the current template exists and has the
// highest deployment.kubernetes.io/revision (a rollback to an older
// template reuses its ReplicaSet and numbers it anew), carries the
// Deployment's kubernetes.io/change-cause, and the Deployment shows the
// revision; each ReplicaSet's replicas count its live pods; old ReplicaSets
// without pods beyond spec.revisionHistoryLimit go, oldest revision first.
func (c *Cluster) syncReplicaSets(ctx context.Context, d *appsv1.Deployment, hash string, pods []corev1.Pod) error {
	rsc := c.fake.AppsV1().ReplicaSets(Namespace)
	list, err := rsc.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list replicasets: %w", err)
	}
	var owned []*appsv1.ReplicaSet
	var cur *appsv1.ReplicaSet
	maxRev := int64(0)
	for i := range list.Items {
		rs := &list.Items[i]
		if !slices.ContainsFunc(rs.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == d.UID }) {
			continue
		}
		owned = append(owned, rs)
		maxRev = max(maxRev, revisionOf(rs))
		if rs.Labels["pod-template-hash"] == hash {
			cur = rs
		}
	}
	cause := d.Annotations[changeCauseAnnotation]
	if cur == nil {
		rs := replicaSetObject(d, hash)
		rs.CreationTimestamp = metav1.Now()
		rs.Annotations = map[string]string{revisionAnnotation: strconv.FormatInt(maxRev+1, 10)}
		if cause != "" {
			rs.Annotations[changeCauseAnnotation] = cause
		}
		created, err := rsc.Create(ctx, rs, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create replicaset %s: %w", rs.Name, err)
		}
		if err == nil {
			cur = created
			owned = append(owned, cur)
			maxRev++
		}
	} else if revisionOf(cur) < maxRev || (cause != "" && cur.Annotations[changeCauseAnnotation] != cause) {
		if revisionOf(cur) < maxRev {
			maxRev++
		}
		ann := map[string]string{revisionAnnotation: strconv.FormatInt(maxRev, 10)}
		if cause != "" {
			ann[changeCauseAnnotation] = cause
		}
		if err := c.patchAnnotations(ctx, "replicasets", cur.Name, ann); err != nil {
			return err
		}
		cur.Annotations = ann
	}
	if want := strconv.FormatInt(maxRev, 10); cur != nil && d.Annotations[revisionAnnotation] != want {
		if err := c.patchAnnotations(ctx, "deployments", d.Name, map[string]string{revisionAnnotation: want}); err != nil {
			return err
		}
	}
	// Replica counts, and the history limit.
	var spare []*appsv1.ReplicaSet
	for _, rs := range owned {
		n := int32(0)
		for i := range pods {
			if pods[i].Labels["pod-template-hash"] == rs.Labels["pod-template-hash"] && pods[i].DeletionTimestamp == nil {
				n++
			}
		}
		want := n
		if rs == cur {
			want = ptr.Deref(d.Spec.Replicas, 1)
		}
		if ptr.Deref(rs.Spec.Replicas, -1) != want || rs.Status.Replicas != n {
			rs.Spec.Replicas, rs.Status.Replicas = ptr.To(want), n
			if _, err := rsc.Update(ctx, rs, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("update replicaset %s: %w", rs.Name, err)
			}
		}
		if rs != cur && n == 0 {
			spare = append(spare, rs)
		}
	}
	slices.SortFunc(spare, func(a, b *appsv1.ReplicaSet) int { return cmp.Compare(revisionOf(a), revisionOf(b)) })
	for _, rs := range spare[:max(0, len(spare)-int(ptr.Deref(d.Spec.RevisionHistoryLimit, 10)))] {
		if err := rsc.Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete replicaset %s: %w", rs.Name, err)
		}
	}
	return nil
}

func revisionOf(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
	return n
}

// patchAnnotations merges ann into the annotations of the named object.
func (c *Cluster) patchAnnotations(ctx context.Context, resource, name string, ann map[string]string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return fmt.Errorf("annotations patch: %w", err)
	}
	if resource == "deployments" {
		_, err = c.fake.AppsV1().Deployments(Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	} else {
		_, err = c.fake.AppsV1().ReplicaSets(Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		return fmt.Errorf("annotate %s %s: %w", resource, name, err)
	}
	return nil
}

// syncCordonTaints does what the node lifecycle controller does for a
// cordon: a node.kubernetes.io/unschedulable:NoSchedule taint while the node
// is cordoned, none after. It patches only the taints, so a cordon written
// meanwhile is kept (and the taint follows on the next round).
func (c *Cluster) syncCordonTaints(ctx context.Context, all []corev1.Node) error {
	for i := range all {
		n := &all[i]
		has := slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeUnschedulable })
		if has == n.Spec.Unschedulable {
			continue
		}
		taints := slices.DeleteFunc(slices.Clone(n.Spec.Taints), func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeUnschedulable })
		if n.Spec.Unschedulable {
			taints = append(taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule, TimeAdded: ptr.To(metav1.Now())})
		}
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"taints": taints}})
		if err != nil {
			return fmt.Errorf("taint patch: %w", err)
		}
		if _, err := c.fake.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("update taints of node %s: %w", n.Name, err)
		}
		n.Spec.Taints = taints
	}
	return nil
}

// updateStatus writes the Deployment's status when it changed, with a
// status patch so that it never overwrites a spec written meanwhile.
func (c *Cluster) updateStatus(ctx context.Context, d *appsv1.Deployment, hash string, current, old []*corev1.Pod, desired, unavailable int32, now time.Time) error {
	ready := countReady(current) + countReady(old)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            int32(len(current) + len(old)),
		UpdatedReplicas:     int32(len(current)),
		ReadyReplicas:       ready,
		AvailableReplicas:   ready,
		UnavailableReplicas: max(0, int32(len(current)+len(old))-ready, desired-ready),
	}
	rs := fmt.Sprintf("%s-%s", d.Name, hash)
	avail := condition(appsv1.DeploymentAvailable, "MinimumReplicasAvailable", "Deployment has minimum availability.", now)
	if ready < desired-unavailable {
		avail.Status, avail.Reason, avail.Message = corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
	}
	prog := condition(appsv1.DeploymentProgressing, "ReplicaSetUpdated", fmt.Sprintf("ReplicaSet %q is progressing.", rs), now)
	if int32(len(current)) == desired && len(old) == 0 && countReady(current) == desired {
		prog.Reason, prog.Message = "NewReplicaSetAvailable", fmt.Sprintf("ReplicaSet %q has successfully progressed.", rs)
	}
	for _, cond := range []*appsv1.DeploymentCondition{&avail, &prog} {
		for _, was := range d.Status.Conditions {
			if was.Type != cond.Type {
				continue
			}
			if was.Status == cond.Status {
				cond.LastTransitionTime = was.LastTransitionTime
			}
			if was.Status == cond.Status && was.Reason == cond.Reason && was.Message == cond.Message {
				cond.LastUpdateTime = was.LastUpdateTime
			}
		}
		st.Conditions = append(st.Conditions, *cond)
	}
	if equality.Semantic.DeepEqual(st, d.Status) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		return fmt.Errorf("status patch: %w", err)
	}
	// A merge patch replaces the conditions list whole, which is what we want.
	if _, err := c.fake.AppsV1().Deployments(Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("update status of deployment %s: %w", d.Name, err)
	}
	return nil
}

func (c *Cluster) updatePod(ctx context.Context, p *corev1.Pod) error {
	if _, err := c.fake.CoreV1().Pods(Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update pod %s: %w", p.Name, err)
	}
	return nil
}

// jitter returns d ± 20%.
func (c *Cluster) jitter(d time.Duration) time.Duration {
	return d*8/10 + time.Duration(c.rng.Int64N(int64(d*4/10)+1))
}

// rollingLimits resolves maxSurge and maxUnavailable for desired replicas:
// surge rounds up, unavailable down, and both zero means one unavailable.
func rollingLimits(d *appsv1.Deployment, desired int32) (surge, unavailable int32) {
	s, u := intstr.FromString("25%"), intstr.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			s = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			u = *ru.MaxUnavailable
		}
	}
	sv, err1 := intstr.GetScaledValueFromIntOrPercent(&s, int(desired), true)
	uv, err2 := intstr.GetScaledValueFromIntOrPercent(&u, int(desired), false)
	if err1 != nil || err2 != nil {
		sv, uv = 1, 0
	}
	if sv == 0 && uv == 0 {
		uv = 1
	}
	return int32(sv), int32(uv)
}

// pickNode returns the schedulable node with the fewest of pods, "" when
// no node takes pods: the scheduler's view of cordons and taints.
func pickNode(all []corev1.Node, pods []*corev1.Pod) string {
	best, bestN := "", 0
	for _, n := range all {
		if len(unschedulableReasons(&n)) > 0 {
			continue
		}
		count := 0
		for _, p := range pods {
			if p.Spec.NodeName == n.Name && p.DeletionTimestamp == nil {
				count++
			}
		}
		if best == "" || count < bestN || (count == bestN && n.Name < best) {
			best, bestN = n.Name, count
		}
	}
	return best
}

func unschedulableReasons(n *corev1.Node) []string {
	var why []string
	if n.Spec.Unschedulable {
		why = append(why, "node(s) were unschedulable")
	}
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		why = append(why, "node(s) were not ready")
	}
	for _, t := range n.Spec.Taints {
		if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) &&
			!(n.Spec.Unschedulable && t.Key == corev1.TaintNodeUnschedulable) {
			why = append(why, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return why
}

// setUnschedulable records why no node takes p, as the scheduler does, and
// reports whether that changed p.
func setUnschedulable(p *corev1.Pod, all []corev1.Node, now time.Time) bool {
	counts := map[string]int{}
	var order []string
	for _, n := range all {
		for _, why := range unschedulableReasons(&n) {
			if counts[why] == 0 {
				order = append(order, why)
			}
			counts[why]++
		}
	}
	parts := make([]string, 0, len(order))
	for _, why := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[why], why))
	}
	msg := fmt.Sprintf("0/%d nodes are available: %s.", len(all), strings.Join(parts, ", "))
	if len(p.Status.Conditions) == 1 && p.Status.Conditions[0].Message == msg {
		return false
	}
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: msg, LastTransitionTime: metav1.NewTime(now),
	}}
	return true
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func countReady(pods []*corev1.Pod) int32 {
	n := int32(0)
	for _, p := range pods {
		if podReady(p) {
			n++
		}
	}
	return n
}

// boolCompare orders false before true.
func boolCompare(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

package cluster

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RevisionAnnotation is where the Deployment controller numbers a
// ReplicaSet's rollout (`kubectl rollout history` REVISION).
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// Revision is one rollout of the Deployment: one of its ReplicaSets.
type Revision struct {
	// Revision is deployment.kubernetes.io/revision; 0 when it is missing.
	Revision int64
	// ReplicaSet is the ReplicaSet's name.
	ReplicaSet string
	// Image is the application container's image in the ReplicaSet's pod
	// template, "" when it has no such container.
	Image string
	// ChangeCause is kubernetes.io/change-cause, "" when none was written.
	ChangeCause string
	// Created is when the ReplicaSet was created (a rollback to an older
	// image reuses its ReplicaSet: a new revision, the old creation time).
	Created time.Time
	// Replicas is status.replicas: its pods now.
	Replicas int32
}

// History lists the Deployment's ReplicaSets (those it owns, by UID) as
// revisions, newest revision first, at most limit of them (limit <= 0:
// all). Kubernetes keeps spec.revisionHistoryLimit old ones (10 by
// default) besides the current.
func (c *Client) History(ctx context.Context, limit int) ([]Revision, error) {
	_, revs, err := c.revisions(ctx)
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(revs) > limit {
		revs = revs[:limit]
	}
	return revs, nil
}

// PreviousImage finds what a rollback goes back to: the newest revision
// whose image differs from the image the Deployment has now (current). ok
// is false when there is none: no older revision, or each ran the current
// image.
func (c *Client) PreviousImage(ctx context.Context) (current string, prev Revision, ok bool, err error) {
	current, revs, err := c.revisions(ctx)
	if err != nil {
		return current, Revision{}, false, err
	}
	i := slices.IndexFunc(revs, func(r Revision) bool { return r.Image != "" && r.Image != current })
	if i < 0 {
		return current, Revision{}, false, nil
	}
	return current, revs[i], true, nil
}

// revisions reads the Deployment and returns its application image and the
// ReplicaSets it owns, newest revision first (equal revisions: newest
// created first).
func (c *Client) revisions(ctx context.Context) (current string, revs []Revision, err error) {
	d, name, err := c.getContainer(ctx)
	if err != nil {
		return "", nil, err
	}
	current = imageOf(d, name)
	sel, err := selectorOf(d)
	if err != nil {
		return current, nil, err
	}
	list, err := c.cs.AppsV1().ReplicaSets(c.t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return current, nil, apiError(fmt.Sprintf("list replicasets of deployment %s", c.t), "list replicasets", "Role", err)
	}
	for i := range list.Items {
		rs := &list.Items[i]
		if !ownedBy(rs, d) {
			continue
		}
		rev, _ := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
		r := Revision{Revision: rev, ReplicaSet: rs.Name, ChangeCause: rs.Annotations[ChangeCauseAnnotation],
			Created: rs.CreationTimestamp.UTC(), Replicas: rs.Status.Replicas}
		for _, ct := range rs.Spec.Template.Spec.Containers {
			if ct.Name == name {
				r.Image = ct.Image
			}
		}
		revs = append(revs, r)
	}
	slices.SortFunc(revs, func(a, b Revision) int {
		return cmp.Or(cmp.Compare(b.Revision, a.Revision), b.Created.Compare(a.Created), cmp.Compare(a.ReplicaSet, b.ReplicaSet))
	})
	return current, revs, nil
}

func ownedBy(rs *appsv1.ReplicaSet, d *appsv1.Deployment) bool {
	return slices.ContainsFunc(rs.OwnerReferences, func(o metav1.OwnerReference) bool { return o.UID == d.UID })
}

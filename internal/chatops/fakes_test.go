package chatops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gitlab.com/derrick-kit/derrick/internal/cluster"
	"gitlab.com/derrick-kit/derrick/internal/registry"
	"gitlab.com/derrick-kit/derrick/internal/telegram"

	corev1 "k8s.io/api/core/v1"
)

// fakeCluster is an in-memory cluster that records every change.
type fakeCluster struct {
	mu       sync.Mutex
	nodes    []cluster.Node
	pods     []cluster.Pod
	logs     map[string][]string
	deploy   cluster.Deployment
	rollouts []cluster.Rollout // what WaitRollout reports, in order; nil: a rollout to spec.replicas
	err      error             // every call fails with it when set
	changes  []string
	calls    int
	// revisions are the Deployment's ReplicaSets, newest first; SetImage
	// adds one.
	revisions []cluster.Revision
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{
		nodes: []cluster.Node{
			{Name: "node-a", ExternalIP: "203.0.113.10", InternalIP: "10.0.0.10", Schedulable: true},
			{Name: "node-b", ExternalIP: "203.0.113.11", Reasons: []cluster.Reason{{Kind: cluster.Cordoned}}},
			{Name: "node-c", InternalIP: "10.0.0.12", Reasons: []cluster.Reason{{Kind: cluster.NotReady}, {Kind: cluster.Tainted, TaintKey: "dedicated", TaintEffect: corev1.TaintEffectNoSchedule}}},
			{Name: "node-d", Schedulable: true},
		},
		pods: []cluster.Pod{
			{Name: "oil-refinery-application-7d9f-abcde", Phase: "Running", Status: "Running", Ready: 1, Containers: 1},
			{Name: "oil-refinery-application-7d9f-fghij", Phase: "Pending", Status: "ContainerCreating", Containers: 1, Restarts: 2},
		},
		logs: map[string][]string{"oil-refinery-application-7d9f-abcde": lines(71, 100)},
		deploy: cluster.Deployment{Name: "oil-refinery-application", Namespace: "oil", Container: "app",
			Image: "registry.example.com/oil/app:0.10.4", Replicas: 3},
		revisions: []cluster.Revision{
			{Revision: 2, Image: "registry.example.com/oil/app:0.10.4", ChangeCause: "/deploy 0.10.4 by @ivan (1001)",
				Created: time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)},
			{Revision: 1, Image: "registry.example.com/oil/app:0.10.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				Created: time.Date(2026, 11, 28, 17, 2, 0, 0, time.UTC)},
		},
	}
}

func lines(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("line %d <tag> & more", i))
	}
	return out
}

func (f *fakeCluster) call() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.err
}

func (f *fakeCluster) record(change string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, change)
}

func (f *fakeCluster) Nodes(context.Context) ([]cluster.Node, error) {
	return slices.Clone(f.nodes), f.call()
}

func (f *fakeCluster) SetSchedulable(_ context.Context, node string, schedulable bool) (bool, error) {
	if err := f.call(); err != nil {
		return false, err
	}
	for i, n := range f.nodes {
		if n.Name != node {
			continue
		}
		cordoned := slices.Contains(n.Reasons, cluster.Reason{Kind: cluster.Cordoned})
		if cordoned == !schedulable {
			return false, nil
		}
		if schedulable {
			f.nodes[i].Reasons = slices.DeleteFunc(n.Reasons, func(r cluster.Reason) bool { return r.Kind == cluster.Cordoned })
		} else {
			f.nodes[i].Reasons = append([]cluster.Reason{{Kind: cluster.Cordoned}}, n.Reasons...)
		}
		f.record(fmt.Sprintf("schedulable %s=%v", node, schedulable))
		return true, nil
	}
	return false, fmt.Errorf("get node %q: %w", node, cluster.ErrNodeNotFound)
}

func (f *fakeCluster) Pods(context.Context) ([]cluster.Pod, error) {
	return slices.Clone(f.pods), f.call()
}

func (f *fakeCluster) Logs(_ context.Context, pod string, n int64) ([]string, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	l, ok := f.logs[pod]
	if !ok && !slices.ContainsFunc(f.pods, func(p cluster.Pod) bool { return p.Name == pod }) {
		return nil, fmt.Errorf("pod %q: %w", pod, cluster.ErrPodNotInDeployment)
	}
	return l[max(0, len(l)-int(n)):], nil
}

func (f *fakeCluster) Deployment(context.Context) (cluster.Deployment, error) {
	return f.deploy, f.call()
}

func (f *fakeCluster) Scale(_ context.Context, n int32) (int32, error) {
	if err := f.call(); err != nil {
		return 0, err
	}
	prev := f.deploy.Replicas
	if prev != n {
		f.deploy.Replicas = n
		f.record(fmt.Sprintf("replicas=%d", n))
	}
	return prev, nil
}

func (f *fakeCluster) SetImageCause(_ context.Context, image, cause string) (string, error) {
	if err := f.call(); err != nil {
		return "", err
	}
	prev := f.deploy.Image
	f.deploy.Image = image
	f.record("image=" + image + " cause=" + cause)
	f.revisions = append([]cluster.Revision{{Revision: int64(len(f.revisions) + 1), Image: image, ChangeCause: cause}}, f.revisions...)
	return prev, nil
}

func (f *fakeCluster) History(_ context.Context, limit int) ([]cluster.Revision, error) {
	if err := f.call(); err != nil {
		return nil, err
	}
	return f.revisions[:min(limit, len(f.revisions))], nil
}

func (f *fakeCluster) PreviousImage(context.Context) (string, cluster.Revision, bool, error) {
	if err := f.call(); err != nil {
		return "", cluster.Revision{}, false, err
	}
	for _, r := range f.revisions {
		if r.Image != f.deploy.Image {
			return f.deploy.Image, r, true, nil
		}
	}
	return f.deploy.Image, cluster.Revision{}, false, nil
}

func (f *fakeCluster) WaitRollout(ctx context.Context, _ time.Duration, report func(cluster.Rollout)) (cluster.Rollout, error) {
	var last cluster.Rollout
	rollouts := f.rollouts
	if rollouts == nil {
		d := f.deploy.Replicas
		rollouts = []cluster.Rollout{
			{Desired: d, Updated: max(d-1, 0), Ready: max(d-1, 0), Available: max(d-1, 0)},
			{Desired: d, Updated: d, Ready: d, Available: d, Done: true},
		}
	}
	for _, r := range rollouts {
		report(r)
		last = r
		if r.Done || r.Failed {
			return last, nil
		}
	}
	<-ctx.Done()
	return last, ctx.Err()
}

type fakeRegistry struct {
	tags []registry.Tag
	err  error
	n    int
	// moved are tags pushed again since the listing: tag -> the digest
	// Resolve finds now.
	moved map[string]string
}

func (r *fakeRegistry) Tags(context.Context) ([]registry.Tag, error) {
	r.n++
	return r.tags, r.err
}

func (r *fakeRegistry) Resolve(_ context.Context, name string) (registry.Tag, error) {
	r.n++
	if r.err != nil {
		return registry.Tag{}, r.err
	}
	for _, t := range r.tags {
		if t.Name == name {
			if d, ok := r.moved[name]; ok {
				t.Digest = d
			}
			return t, nil
		}
	}
	return registry.Tag{}, fmt.Errorf("tag %q: %w", name, registry.ErrTagNotFound)
}

// fakeDigest is the digest the fake registry gives content.
func fakeDigest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func newFakeRegistry() *fakeRegistry {
	at := func(day int) time.Time { return time.Date(2026, 11, day, 9, 0, 0, 0, time.UTC) }
	tag := func(name string, day int) registry.Tag {
		return registry.Tag{Name: name, Created: at(day), Digest: fakeDigest(name)}
	}
	return &fakeRegistry{tags: []registry.Tag{tag("0.10.5", 25), tag("main", 24), tag("0.10.4", 20), tag("0.10.3", 10)}}
}

// sent is one thing the bot did in reply.
type sent struct {
	Kind string // send, edit, announce
	Chat int64
	ID   int64
	Text string
}

// recorder delivers Results as the adapter does and keeps everything, but
// never splits: a reply too long for one message fails the test (the
// adapter's tests cover splitting and documents).
type recorder struct {
	mu     sync.Mutex
	chatID int64
	out    []sent
	nextID int64
}

func (r *recorder) add(s sent) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	if s.ID == 0 {
		s.ID = r.nextID
	}
	r.out = append(r.out, s)
	return s.ID
}

// deliver sends res's reply and announcement and returns the message a
// follow-up edits.
func (r *recorder) deliver(t *testing.T, res Result) Message {
	t.Helper()
	msg := &recordedMessage{rec: r}
	if !res.Reply.Empty() {
		text := res.Reply.Text()
		if n := utf8.RuneCountInString(text); n > telegram.MaxMessageLength {
			t.Fatalf("reply of %d characters: the harness does not split", n)
		}
		msg.id = r.add(sent{Kind: "send", Chat: r.chatID, Text: text})
	}
	r.announce(res.Announce)
	return msg
}

// follow runs res's follow-up, if any, to the end, and announces it.
func (r *recorder) follow(ctx context.Context, res Result, msg Message) {
	if res.Follow != nil {
		r.announce(res.Follow(ctx, msg))
	}
}

func (r *recorder) announce(a Announcement) {
	if a.ChatID != 0 {
		r.add(sent{Kind: "announce", Chat: a.ChatID, Text: a.HTML})
	}
}

// recordedMessage is the reply a follow-up edits; one never sent is sent
// by the first edit.
type recordedMessage struct {
	rec *recorder
	id  int64
}

func (m *recordedMessage) Edit(_ context.Context, html string) error {
	if m.id == 0 {
		m.id = m.rec.add(sent{Kind: "send", Chat: m.rec.chatID, Text: html})
		return nil
	}
	m.rec.add(sent{Kind: "edit", Chat: m.rec.chatID, ID: m.id, Text: html})
	return nil
}

func (r *recorder) texts() string {
	var b strings.Builder
	for _, s := range r.out {
		fmt.Fprintf(&b, "--- %s %d\n%s\n", s.Kind, s.Chat, s.Text)
	}
	return b.String()
}

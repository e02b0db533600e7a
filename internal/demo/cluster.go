package demo

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// What the simulated cluster holds.
const (
	Namespace  = "oil"
	Deployment = "oil-refinery-application"
	Container  = "app"
	Repository = "registry.example.com/oil/oil-refinery-application"
	// StartTag is the version the Deployment runs when the demo starts.
	StartTag = "0.10.4"
	// appLabel selects the Deployment's pods.
	appLabel = "app.kubernetes.io/name"
	// seedCause is the change-cause of the rollout of StartTag.
	seedCause = "/deploy " + StartTag + " by @olga_ops (314159265)"
)

// The annotations the Deployment controller keeps (kubectl rollout history).
const (
	revisionAnnotation    = "deployment.kubernetes.io/revision"
	changeCauseAnnotation = "kubernetes.io/change-cause"
)

// node is one simulated node; its addresses are from the documentation
// ranges, so they reach nothing.
type node struct {
	name, internalIP, externalIP string
	cordoned                     bool
	taint                        *corev1.Taint
}

var nodes = []node{
	{name: "worker-1", internalIP: "10.0.0.11", externalIP: "203.0.113.11"},
	{name: "worker-2", internalIP: "10.0.0.12", externalIP: "203.0.113.12", cordoned: true},
	{name: "worker-3", internalIP: "10.0.0.13", externalIP: "203.0.113.13",
		taint: &corev1.Taint{Key: "dedicated", Value: "monitoring", Effect: corev1.TaintEffectNoSchedule}},
}

// Cluster is the simulated cluster: a client-go fake clientset seeded with
// the nodes and the application, whose pods serve generated logs, and a
// controller (Run) that plays the Deployment controller, the scheduler and
// the kubelet so that scaling and new images change pods over a few seconds.
type Cluster struct {
	fake  *fake.Clientset
	cs    kubernetes.Interface
	t     Timing
	log   *slog.Logger
	kick  chan struct{} // a spec changed: reconcile now
	rng   *rand.Rand    // names, IPs, delays; only the controller goroutine uses it after New
	start time.Time

	// controller state, owned by Run's goroutine (and by New before it).
	pods   map[string]*simPod
	nextIP int
}

// simPod is what the controller remembers about a pod it created.
type simPod struct {
	readyAt time.Time // when the container becomes ready, once scheduled
	goneAt  time.Time // when a terminating pod disappears; zero while it lives
}

// Timing sets how fast the simulated cluster moves; zero fields take the
// defaults, chosen so that a rollout of three pods takes about eight seconds.
type Timing struct {
	PodStart time.Duration // from creation (or scheduling) to Ready; default 2.5s, ±20%
	PodStop  time.Duration // how long a deleted pod stays Terminating; default 1.5s
	Tick     time.Duration // how often the controller looks; default 200ms
}

func (t Timing) withDefaults() Timing {
	if t.PodStart <= 0 {
		t.PodStart = 2500 * time.Millisecond
	}
	if t.PodStop <= 0 {
		t.PodStop = 1500 * time.Millisecond
	}
	if t.Tick <= 0 {
		t.Tick = 200 * time.Millisecond
	}
	return t
}

// NewCluster seeds the simulated cluster: three nodes (worker-2 cordoned,
// worker-3 tainted NoSchedule) and Deployment oil-refinery-application in
// namespace oil with three Running pods of StartTag. Call Run to make it move.
// Errors of the simulation (there should be none) go to log.
func NewCluster(t Timing, log *slog.Logger) (*Cluster, error) {
	now := time.Now()
	c := &Cluster{
		log:   log,
		t:     t.withDefaults(),
		kick:  make(chan struct{}, 1),
		rng:   rand.New(rand.NewPCG(1, 2)), // the same pod names on every start
		start: now,
		pods:  map[string]*simPod{},
	}
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, nodeObject(n, now.Add(-40*24*time.Hour)))
	}
	d := deploymentObject(now.Add(-30 * 24 * time.Hour))
	hash := templateHash(&d.Spec.Template)
	// The revisions before: 0.10.3 applied by hand (no cause), then the
	// bot's /deploy 0.10.4, which runs now.
	past := d.DeepCopy()
	past.Spec.Template.Spec.Containers[0].Image = Repository + ":0.10.3"
	old := replicaSetObject(past, templateHash(&past.Spec.Template))
	old.CreationTimestamp = metav1.NewTime(now.Add(-27 * 24 * time.Hour))
	old.Annotations = map[string]string{revisionAnnotation: "1"}
	cur := replicaSetObject(d, hash)
	cur.CreationTimestamp = metav1.NewTime(now.Add(-12 * 24 * time.Hour))
	cur.Annotations = map[string]string{revisionAnnotation: "2", changeCauseAnnotation: seedCause}
	cur.Spec.Replicas, cur.Status.Replicas = ptr.To[int32](3), 3
	old.Spec.Replicas = ptr.To[int32](0)
	objs = append(objs, d, old, cur)
	for i, on := range []string{"worker-1", "worker-2", "worker-3"} {
		created := now.Add(-time.Duration(5+i*2)*time.Hour - time.Duration(i*17)*time.Minute)
		p := c.podObject(d, hash, created)
		p.Spec.NodeName = on
		c.setRunning(p, created.Add(3*time.Second))
		if i == 1 {
			p.Status.ContainerStatuses[0].RestartCount = 1
		}
		c.pods[p.Name] = &simPod{readyAt: created}
		objs = append(objs, p)
	}
	c.fake = fake.NewClientset(objs...)
	c.fake.PrependReactor("*", "deployments", c.bumpGeneration)
	logs, err := c.logClient()
	if err != nil {
		return nil, err
	}
	c.cs = &clientset{Clientset: c.fake, logs: logs}
	return c, nil
}

// Clientset is what the bot is given: the fake clientset, except that pod
// logs are generated per pod instead of the fake's fixed "fake logs".
func (c *Cluster) Clientset() kubernetes.Interface { return c.cs }

// bumpGeneration does what the API server does on a write to a Deployment:
// it increments metadata.generation when the spec changed. Without it
// `rollout status` logic would believe an old status describes a new spec.
// It runs under the fake's lock, so no read sees the spec without the new
// generation.
func (c *Cluster) bumpGeneration(a k8stesting.Action) (bool, runtime.Object, error) {
	if (a.GetVerb() != "patch" && a.GetVerb() != "update") || a.GetSubresource() != "" {
		return false, nil, nil
	}
	tracker := c.fake.Tracker()
	gvr := a.GetResource()
	var name string
	switch a := a.(type) {
	case k8stesting.PatchActionImpl:
		name = a.GetName()
	case k8stesting.UpdateActionImpl:
		m, ok := a.GetObject().(metav1.Object)
		if !ok {
			return false, nil, nil
		}
		name = m.GetName()
	default:
		return false, nil, nil
	}
	before, err := tracker.Get(gvr, a.GetNamespace(), name, metav1.GetOptions{})
	if err != nil {
		return true, nil, err
	}
	_, obj, err := k8stesting.ObjectReaction(tracker)(a)
	if err != nil {
		return true, nil, err
	}
	old, _ := before.(*appsv1.Deployment)
	d, ok := obj.(*appsv1.Deployment)
	if !ok || old == nil || equality.Semantic.DeepEqual(old.Spec, d.Spec) {
		return true, obj, nil
	}
	d = d.DeepCopy()
	d.Generation = old.Generation + 1
	if err := tracker.Update(gvr, d, a.GetNamespace(), metav1.UpdateOptions{}); err != nil {
		return true, nil, err
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
	obj, err = tracker.Get(gvr, a.GetNamespace(), name, metav1.GetOptions{})
	return true, obj, err
}

func nodeObject(n node, created time.Time) *corev1.Node {
	o := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:              n.name,
			CreationTimestamp: metav1.NewTime(created),
			Labels: map[string]string{
				"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"node.kubernetes.io/instance-type": "standard-4",
			},
		},
		Spec: corev1.NodeSpec{Unschedulable: n.cordoned},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.internalIP},
				{Type: corev1.NodeExternalIP, Address: n.externalIP},
				{Type: corev1.NodeHostName, Address: n.name},
			},
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastTransitionTime: metav1.NewTime(created),
			}},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"),
				corev1.ResourcePods: resource.MustParse("110"),
			},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.34.2", OSImage: "Debian GNU/Linux 12 (bookworm)"},
		},
	}
	if n.cordoned {
		// What kubectl cordon leads to: the node controller adds this taint.
		o.Spec.Taints = append(o.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	if n.taint != nil {
		o.Spec.Taints = append(o.Spec.Taints, *n.taint)
	}
	return o
}

func deploymentObject(created time.Time) *appsv1.Deployment {
	labels := map[string]string{appLabel: Deployment}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: Deployment, Namespace: Namespace, Generation: 1,
			Annotations:       map[string]string{revisionAnnotation: "2", changeCauseAnnotation: seedCause},
			UID:               "00000000-0000-4000-8000-00000000d001",
			CreationTimestamp: metav1.NewTime(created),
			Labels:            map[string]string{appLabel: Deployment, "app.kubernetes.io/part-of": "oil-refinery"},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromString("25%")),
				},
			},
			ProgressDeadlineSeconds: ptr.To[int32](600),
			RevisionHistoryLimit:    ptr.To[int32](10),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  Container,
					Image: Repository + ":" + StartTag,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http")},
					}},
				}}},
			},
		},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
			Conditions: []appsv1.DeploymentCondition{
				condition(appsv1.DeploymentAvailable, "MinimumReplicasAvailable", "Deployment has minimum availability.", created),
				condition(appsv1.DeploymentProgressing, "NewReplicaSetAvailable",
					fmt.Sprintf("ReplicaSet %q has successfully progressed.", Deployment+"-"+templateHash(nil)), created),
			},
		},
	}
}

func condition(typ appsv1.DeploymentConditionType, reason, msg string, at time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
		LastUpdateTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at),
	}
}

// templateHash is the pod-template-hash label of a template, derived from
// its image the way Kubernetes derives it from the whole template: an FNV
// hash written with the API's safe alphabet. A nil template is the seed's.
func templateHash(t *corev1.PodTemplateSpec) string {
	image := Repository + ":" + StartTag
	if t != nil && len(t.Spec.Containers) > 0 {
		image = t.Spec.Containers[0].Image
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(image))
	return utilrand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// podObject returns a new pod of d's template, Pending and not yet
// scheduled, named like the ReplicaSet controller names pods.
func (c *Cluster) podObject(d *appsv1.Deployment, hash string, created time.Time) *corev1.Pod {
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = nameAlphabet[c.rng.IntN(len(nameAlphabet))]
	}
	rs := replicaSetObject(d, hash)
	spec := *d.Spec.Template.Spec.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: rs.Name + "-" + string(suffix), Namespace: d.Namespace, Labels: rs.Labels,
			CreationTimestamp: metav1.NewTime(created),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true),
			}},
		},
		Spec: spec,
		Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}},
		},
	}
}

// replicaSetObject returns the ReplicaSet of d for template hash hash,
// controlled by d, as the Deployment controller creates it (the bot checks
// that chain before it reads a pod's log). Its UID is derived from its name.
func replicaSetObject(d *appsv1.Deployment, hash string) *appsv1.ReplicaSet {
	name := d.Name + "-" + hash
	labels := map[string]string{"pod-template-hash": hash}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: d.Namespace, Labels: labels,
			UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012x", fnv32(name))),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr.To(true),
			}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: d.Spec.Template,
		},
	}
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// setScheduled places p on a node: its container is being created.
func (c *Cluster) setScheduled(p *corev1.Pod, node string, at time.Time) {
	p.Spec.NodeName = node
	p.Status.Phase = corev1.PodPending
	p.Status.HostIP = nodeIP(node)
	p.Status.StartTime = ptr.To(metav1.NewTime(at))
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: metav1.NewTime(at)},
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: Container, Image: p.Spec.Containers[0].Image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
	}}
}

// setRunning makes p Running and Ready since at.
func (c *Cluster) setRunning(p *corev1.Pod, at time.Time) {
	if p.Status.StartTime == nil {
		p.Status.StartTime = ptr.To(metav1.NewTime(at))
	}
	c.nextIP++
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = nodeIP(p.Spec.NodeName)
	p.Status.PodIP = fmt.Sprintf("10.244.%d.%d", nodeIndex(p.Spec.NodeName)+1, 10+c.nextIP%240)
	p.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)},
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: Container, Image: p.Spec.Containers[0].Image, Ready: true, Started: ptr.To(true),
		ImageID: "sha256:" + fmt.Sprintf("%08x", fnv32(p.Spec.Containers[0].Image)) + "c0ffee",
		State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at)}},
	}}
}

func nodeIndex(name string) int {
	for i, n := range nodes {
		if n.name == name {
			return i
		}
	}
	return len(nodes)
}

func nodeIP(name string) string {
	if i := nodeIndex(name); i < len(nodes) {
		return nodes[i].internalIP
	}
	return ""
}

// clientset is the fake clientset with generated pod logs.
type clientset struct {
	*fake.Clientset
	logs *rest.RESTClient
}

func (c *clientset) CoreV1() corev1client.CoreV1Interface {
	return coreV1{CoreV1Interface: c.Clientset.CoreV1(), logs: c.logs}
}

type coreV1 struct {
	corev1client.CoreV1Interface
	logs *rest.RESTClient
}

func (c coreV1) Pods(ns string) corev1client.PodInterface {
	return pods{PodInterface: c.CoreV1Interface.Pods(ns), ns: ns, logs: c.logs}
}

type pods struct {
	corev1client.PodInterface
	ns   string
	logs *rest.RESTClient
}

// GetLogs builds the request the real typed client builds; the log client
// answers it from the simulated cluster (see logs.go).
func (p pods) GetLogs(name string, opts *corev1.PodLogOptions) *rest.Request {
	return p.logs.Get().Namespace(p.ns).Name(name).Resource("pods").SubResource("log").
		VersionedParams(opts, parameterCodec)
}

var _ kubernetes.Interface = (*clientset)(nil)

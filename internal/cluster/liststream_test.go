package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

// nodeList returns n nodes with every field a real node has, in the
// combinations nodeOf tells apart (cordoned, NotReady, tainted, with and
// without an external address).
func nodeList(n int, cont string) *corev1.NodeList {
	list := &corev1.NodeList{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeList"},
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: cont},
	}
	for i := range n {
		ready := corev1.ConditionTrue
		if i%7 == 0 {
			ready = corev1.ConditionUnknown
		}
		var taints []corev1.Taint
		if i%5 == 0 {
			taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}, {Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}}
		}
		addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.%d.%d", i/250, i%250)}, {Type: corev1.NodeHostName, Address: "h"}}
		if i%2 == 0 {
			addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: fmt.Sprintf("198.18.%d.%d", i/250, i%250)})
		}
		// What a kubelet's node carries besides: labels, annotations,
		// managed fields, capacity, system info, images.
		var images []corev1.ContainerImage
		for j := range 20 {
			images = append(images, corev1.ContainerImage{Names: []string{fmt.Sprintf("registry.example.com/team/image-%d@sha256:%064d", j, j)}, SizeBytes: 1 << 27})
		}
		list.Items = append(list.Items, corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("node-%04d", i),
				UID:         "00000000-0000-4000-8000-000000000000",
				Labels:      map[string]string{"kubernetes.io/hostname": fmt.Sprintf("node-%04d", i), "topology.kubernetes.io/zone": "a"},
				Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
					FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{"f:conditions":{}}}`)}}},
			},
			Spec: corev1.NodeSpec{Unschedulable: i%3 == 0, Taints: taints, PodCIDR: "10.244.0.0/24", ProviderID: "kwok://x"},
			Status: corev1.NodeStatus{
				Addresses: addrs,
				Conditions: []corev1.NodeCondition{
					{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"},
					{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
				},
				Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
				NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.34.4", OSImage: "Debian GNU/Linux 12 (bookworm)", MachineID: "m"},
				Images:   images,
			},
		})
	}
	return list
}

// encode writes list as the API server does for Accept: protobuf.
func encode(t testing.TB, list *corev1.NodeList) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(list, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeAll(r io.Reader) ([]Node, string, error) {
	var got []Node
	cont, err := listNodesStream(r, func(n *corev1.Node) { got = append(got, nodeOf(n)) })
	return got, cont, err
}

func TestListNodesStream(t *testing.T) {
	list := nodeList(700, "next-page")
	var want []Node
	for i := range list.Items {
		want = append(want, nodeOf(&list.Items[i]))
	}
	pb := encode(t, list)
	js, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"protobuf", bytes.NewReader(pb)},
		{"protobuf, one byte per read", iotest.OneByteReader(bytes.NewReader(pb))},
		{"JSON from a proxy", bytes.NewReader(js)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cont, err := decodeAll(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if cont != "next-page" {
				t.Errorf("continue %q, want next-page", cont)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("empty list", func(t *testing.T) {
		got, cont, err := decodeAll(bytes.NewReader(encode(t, nodeList(0, ""))))
		if err != nil || cont != "" || len(got) != 0 {
			t.Errorf("got %v, %q, %v; want no nodes", got, cont, err)
		}
	})
	t.Run("truncated answer", func(t *testing.T) {
		for _, cut := range []int{len(pb) - 1, len(pb) / 2, 7} {
			if _, _, err := decodeAll(bytes.NewReader(pb[:cut])); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("answer cut at %d of %d bytes: %v, want ErrUnexpectedEOF", cut, len(pb), err)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		if _, _, err := decodeAll(bytes.NewReader([]byte("<html>proxy error</html>"))); err == nil {
			t.Error("no error for an HTML answer")
		}
	})
}

// BenchmarkListNodesStream: decoding 5,000 nodes from protobuf as the bot
// does, beside the typed client's decode of the whole list.
func BenchmarkListNodesStream(b *testing.B) {
	pb := encode(b, nodeList(5000, ""))
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := decodeAll(bytes.NewReader(pb)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("whole list", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var list corev1.NodeList
			obj, _, err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Decode(pb, nil, &list)
			if err != nil {
				b.Fatal(err)
			}
			l := obj.(*corev1.NodeList)
			out := make([]Node, 0, len(l.Items))
			for i := range l.Items {
				out = append(out, nodeOf(&l.Items[i]))
			}
		}
	})
}

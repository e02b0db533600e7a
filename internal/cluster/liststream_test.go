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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

// nodeList returns n nodes, each with labels, an address, a condition and
// a taint, so that every kind of field is on the wire.
func nodeList(n int, cont string) *corev1.NodeList {
	list := &corev1.NodeList{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NodeList"},
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: cont},
	}
	for i := range n {
		list.Items = append(list.Items, corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%04d", i), Labels: map[string]string{"zone": "a"}},
			Spec:       corev1.NodeSpec{Unschedulable: i%3 == 0, Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: fmt.Sprintf("198.18.0.%d", i%250)}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
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

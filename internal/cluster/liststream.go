package cluster

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// protobufMediaType is the API server's protobuf encoding; its answers
// start with protobufMagic, then a runtime.Unknown message whose field 2
// (raw) holds the object, here a NodeList: field 1 its ListMeta, field 2
// each item.
const protobufMediaType = "application/vnd.kubernetes.protobuf"

var protobufMagic = []byte("k8s\x00")

// Field numbers and wire types of the messages listNodesStream reads.
const (
	unknownRawField    = 2
	listMetadataField  = 1
	listItemsField     = 2
	wireVarint         = 0
	wireFixed64        = 1
	wireLengthDelim    = 2
	wireFixed32        = 5
	maxStreamItemBytes = 16 << 20 // far above etcd's 1.5 MiB object limit
)

// listNodesStream decodes a node list answer from r, calling each for one
// node at a time (each must not keep the pointer: the Node is reused), and
// returns its continue token. Protobuf answers are read
// item by item as they arrive, so memory holds one node, not the list; an
// answer in JSON (a proxy that does not pass protobuf through) is decoded
// whole.
func listNodesStream(r io.Reader, each func(*corev1.Node)) (string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(protobufMagic))
	if err != nil {
		return "", fmt.Errorf("read the node list: %w", err)
	}
	if !bytes.Equal(head, protobufMagic) {
		var list corev1.NodeList
		if err := json.NewDecoder(br).Decode(&list); err != nil {
			return "", fmt.Errorf("decode the node list (JSON): %w", err)
		}
		for i := range list.Items {
			each(&list.Items[i])
		}
		return list.Continue, nil
	}
	p := &pbStream{r: br}
	if err := p.skip(int64(len(protobufMagic))); err != nil {
		return "", err
	}
	var (
		cont string
		buf  []byte
		node corev1.Node // reused: each may not keep it
	)
	for {
		num, size, err := p.next()
		if errors.Is(err, io.EOF) {
			return cont, nil
		}
		if err != nil {
			return "", err
		}
		if num != unknownRawField || size < 0 {
			if err := p.skip(max(size, 0)); err != nil {
				return "", err
			}
			continue
		}
		for end := p.read + size; p.read < end; {
			num, n, err := p.next()
			if err != nil {
				return "", noEOF(err)
			}
			if (num != listMetadataField && num != listItemsField) || n < 0 {
				if err := p.skip(max(n, 0)); err != nil {
					return "", err
				}
				continue
			}
			if cap(buf) < int(n) {
				buf = make([]byte, n)
			}
			if err := p.full(buf[:n]); err != nil {
				return "", err
			}
			if num == listMetadataField {
				var meta metav1.ListMeta
				if err := meta.Unmarshal(buf[:n]); err != nil {
					return "", fmt.Errorf("decode the node list's metadata: %w", err)
				}
				cont = meta.Continue
				continue
			}
			if err := decodeNodeFields(buf[:n], &node); err != nil {
				return "", fmt.Errorf("decode a node of the list: %w", err)
			}
			each(&node)
		}
	}
}

// Field numbers of core/v1 Node, ObjectMeta and NodeStatus
// (k8s.io/api/core/v1/generated.proto).
const (
	nodeMetadataField     = 1
	nodeSpecField         = 2
	nodeStatusField       = 3
	metaNameField         = 1
	statusConditionsField = 4
	statusAddressesField  = 5
)

// decodeNodeFields decodes into n only what nodeOf reads: the name, the
// spec (unschedulable, taints; it is small), and the status's conditions
// and addresses. Labels, annotations, managed fields, images, capacity and
// the rest, most of a real node's bytes, are skipped without being decoded.
// A field nodeOf starts to read must be added here.
func decodeNodeFields(b []byte, n *corev1.Node) error {
	n.Name, n.Spec = "", corev1.NodeSpec{}
	n.Status.Conditions, n.Status.Addresses = n.Status.Conditions[:0], n.Status.Addresses[:0]
	return eachField(b, func(num uint64, v []byte) error {
		switch num {
		case nodeMetadataField:
			return eachField(v, func(num uint64, v []byte) error {
				if num == metaNameField {
					n.Name = string(v)
				}
				return nil
			})
		case nodeSpecField:
			return n.Spec.Unmarshal(v)
		case nodeStatusField:
			return eachField(v, func(num uint64, v []byte) error {
				switch num {
				case statusConditionsField:
					var c corev1.NodeCondition
					if err := c.Unmarshal(v); err != nil {
						return err
					}
					n.Status.Conditions = append(n.Status.Conditions, c)
				case statusAddressesField:
					var a corev1.NodeAddress
					if err := a.Unmarshal(v); err != nil {
						return err
					}
					n.Status.Addresses = append(n.Status.Addresses, a)
				}
				return nil
			})
		}
		return nil
	})
}

// eachField calls fn with the number and the payload of every
// length-delimited field of the protobuf message b, and skips the others.
func eachField(b []byte, fn func(num uint64, v []byte) error) error {
	for len(b) > 0 {
		tag, k := binary.Uvarint(b)
		if k <= 0 {
			return errors.New("bad protobuf tag")
		}
		b = b[k:]
		switch tag & 7 {
		case wireVarint:
			_, k = binary.Uvarint(b)
			if k <= 0 {
				return errors.New("bad protobuf varint")
			}
			b = b[k:]
		case wireFixed64, wireFixed32:
			size := 8
			if tag&7 == wireFixed32 {
				size = 4
			}
			if len(b) < size {
				return io.ErrUnexpectedEOF
			}
			b = b[size:]
		case wireLengthDelim:
			size, k := binary.Uvarint(b)
			if k <= 0 || size > uint64(len(b)-k) {
				return io.ErrUnexpectedEOF
			}
			if err := fn(tag>>3, b[k:k+int(size)]); err != nil {
				return err
			}
			b = b[k+int(size):]
		default:
			return fmt.Errorf("unknown protobuf wire type %d", tag&7)
		}
	}
	return nil
}

// pbStream reads protobuf fields from a stream and counts the bytes read.
type pbStream struct {
	r    *bufio.Reader
	read int64
}

func (p *pbStream) ReadByte() (byte, error) {
	b, err := p.r.ReadByte()
	if err == nil {
		p.read++
	}
	return b, err
}

// next reads the tag of the next field and, when it is length-delimited,
// its length; any other field is skipped, and size is -1.
func (p *pbStream) next() (num uint64, size int64, err error) {
	v, err := binary.ReadUvarint(p)
	if err != nil {
		return 0, 0, err
	}
	switch v & 7 {
	case wireLengthDelim:
		size, err = p.length()
		return v >> 3, size, err
	case wireVarint:
		_, err = binary.ReadUvarint(p)
		err = noEOF(err)
	case wireFixed64:
		err = p.skip(8)
	case wireFixed32:
		err = p.skip(4)
	default:
		err = fmt.Errorf("decode the node list: unknown protobuf wire type %d", v&7)
	}
	return v >> 3, -1, err
}

// length reads the length of a length-delimited field and bounds it.
func (p *pbStream) length() (int64, error) {
	v, err := binary.ReadUvarint(p)
	if err != nil {
		return 0, noEOF(err)
	}
	if v > maxStreamItemBytes {
		return 0, fmt.Errorf("decode the node list: a field of %d bytes (at most %d accepted)", v, maxStreamItemBytes)
	}
	return int64(v), nil
}

func (p *pbStream) full(b []byte) error {
	n, err := io.ReadFull(p.r, b)
	p.read += int64(n)
	return noEOF(err)
}

func (p *pbStream) skip(n int64) error {
	for n > 0 {
		d, err := p.r.Discard(int(min(n, 1<<20)))
		p.read += int64(d)
		n -= int64(d)
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// noEOF turns an end of the answer inside a message into an error that
// says so.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("decode the node list: the answer ends inside a message: %w", io.ErrUnexpectedEOF)
	}
	return err
}

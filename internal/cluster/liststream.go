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
// node at a time, and returns its continue token. Protobuf answers are read
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
	)
	for {
		num, wire, err := p.tag()
		if errors.Is(err, io.EOF) {
			return cont, nil
		}
		if err != nil {
			return "", err
		}
		if num != unknownRawField || wire != wireLengthDelim {
			if err := p.skipField(wire); err != nil {
				return "", err
			}
			continue
		}
		size, err := p.length()
		if err != nil {
			return "", err
		}
		for end := p.read + size; p.read < end; {
			num, wire, err := p.tag()
			if err != nil {
				return "", noEOF(err)
			}
			if wire != wireLengthDelim || (num != listMetadataField && num != listItemsField) {
				if err := p.skipField(wire); err != nil {
					return "", err
				}
				continue
			}
			n, err := p.length()
			if err != nil {
				return "", err
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
			var node corev1.Node // Unmarshal appends to what it finds: a fresh one each time
			if err := node.Unmarshal(buf[:n]); err != nil {
				return "", fmt.Errorf("decode a node of the list: %w", err)
			}
			each(&node)
		}
	}
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

func (p *pbStream) tag() (num, wire uint64, err error) {
	v, err := binary.ReadUvarint(p)
	return v >> 3, v & 7, err
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

func (p *pbStream) skipField(wire uint64) error {
	switch wire {
	case wireVarint:
		_, err := binary.ReadUvarint(p)
		return noEOF(err)
	case wireFixed64:
		return p.skip(8)
	case wireFixed32:
		return p.skip(4)
	case wireLengthDelim:
		n, err := p.length()
		if err != nil {
			return err
		}
		return p.skip(n)
	}
	return fmt.Errorf("decode the node list: unknown protobuf wire type %d", wire)
}

// noEOF turns an end of the answer inside a message into an error that
// says so.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("decode the node list: the answer ends inside a message: %w", io.ErrUnexpectedEOF)
	}
	return err
}

package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"lethe/wire"
)

func TestFramedSizes(t *testing.T) {
	for _, tc := range []struct{ msg, framed int }{
		{1, smallFrameSize},
		{maxSmallPayload, smallFrameSize},
		{maxSmallPayload + 1, largeFrameSize},
		{maxLargePayload, largeFrameSize},
		{maxLargePayload + 1, largeFrameSize + smallFrameSize},
		{maxLargePayload + maxSmallPayload + 1, 2 * largeFrameSize},
		{32797, 2*largeFrameSize + smallFrameSize}, // CHK DataReply
		{wire.MaxMessageSize, 2*largeFrameSize + smallFrameSize},
	} {
		var q sendQueue
		q.push(make([]byte, tc.msg))
		out := q.next(nil, 1<<20, laneSmall|laneLarge)
		if len(out) != tc.framed || framedSize(tc.msg) != tc.framed {
			t.Errorf("a %d-byte message takes %d bytes of frames (framedSize %d), want %d", tc.msg, len(out), framedSize(tc.msg), tc.framed)
		}
	}
}

func TestFrameReaderRefuses(t *testing.T) {
	whole := appendFrame(nil, kindWhole, []byte{byte(wire.TypeKeepalive)})
	var q sendQueue
	q.push(bytes.Repeat([]byte{1}, 20000))
	split := q.next(nil, 1<<20, laneSmall|laneLarge)
	patch := func(b []byte, i int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[i:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"class 0":                   patch(whole, 0, 0),
		"class 3":                   patch(whole, 0, 3),
		"kind 3":                    patch(whole, 1, 3),
		"empty message":             patch(whole, 2, 0, 0),
		"payload past frame":        patch(whole, 2, 0x04, 0x00),
		"small payload, large size": patch(appendFrame(nil, kindWhole, make([]byte, 2000)), 2, 0, 10),
		"non-zero padding":          patch(whole, 100, 1),
		"next without first":        split[largeFrameSize:],
		"first inside first":        append(split[:largeFrameSize:largeFrameSize], split[:largeFrameSize]...),
		"short middle part":         patch(split, largeFrameSize+2, 0, 10),
		"truncated frame":           whole[:500],
	} {
		fr := newFrameReader(bytes.NewReader(b))
		var err error
		for err == nil {
			_, _, err = fr.next()
		}
		if !errors.Is(err, ErrProtocol) && err != io.ErrUnexpectedEOF {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
}

// FuzzFrameReader: any byte stream yields only messages within wire.MaxMessageSize, then an
// error, without panicking; and messages framed by a sendQueue come back intact.
func FuzzFrameReader(f *testing.F) {
	var q sendQueue
	q.push([]byte{byte(wire.TypeKeepalive)})
	q.push(bytes.Repeat([]byte{7}, 20000))
	q.push(bytes.Repeat([]byte{9}, 2000))
	f.Add(q.next(nil, 1<<20, laneSmall|laneLarge), []byte("abc"))
	f.Add(appendFrame(nil, kindWhole, []byte{1, 2, 3}), []byte{})
	f.Fuzz(func(t *testing.T, stream, msg []byte) {
		fr := newFrameReader(bytes.NewReader(stream))
		for range 64 {
			b, _, err := fr.next()
			if err != nil {
				break
			}
			if len(b) == 0 || len(b) > wire.MaxMessageSize {
				t.Fatalf("a message of %d bytes", len(b))
			}
		}
		if len(msg) == 0 || len(msg) > wire.MaxMessageSize {
			return
		}
		var q sendQueue
		q.push(msg)
		fr = newFrameReader(bytes.NewReader(q.next(nil, 1<<20, laneSmall|laneLarge)))
		got, _, err := fr.next()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(msg), len(got), err)
		}
	})
}

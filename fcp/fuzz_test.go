package fcp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzReadMessage feeds arbitrary bytes to the message parser. It must not panic; a message it
// reports with a non-fatal error must come with the message so far, and the stream must go on
// after its data; every message it accepts must format, and parsing the formatted stream must
// give back exactly the same messages and data (parse ∘ format is the identity).
func FuzzReadMessage(f *testing.F) {
	for _, seed := range []string{
		pyHello,
		pyGenerateSSK,
		pyPut("id2943690444352725", helloText),
		pyGet("id3556208220915880", "CHK@x,y,z"),
		sitePut("id1", "<html></html>"),
		"ClientPutComplexDir\nIdentifier=a\nFiles.0.Name=i.html\nFiles.0.DataLength=2\nDataLength=2\nData\nhi",
		"\n\nWatchGlobal\nEnabled=true\nEnd\n",
		"M\nbroken\nK=v\nEndMessage\n",
		"M\nDataLength=99999999999\nData\n",
		"M\nK=\xff\nEndMessage\n",
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:9481\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 1<<16)
		var canonical bytes.Buffer
		var msgs []*Message
		var datas [][]byte
		for {
			m, err := r.ReadMessage()
			if err != nil {
				var pe *ParseError
				if errors.As(err, &pe) && !pe.Fatal {
					if m == nil {
						t.Fatal("a non-fatal ParseError without the message")
					}
					if err := r.Skip(); err != nil {
						return
					}
					continue
				}
				break
			}
			data, err := io.ReadAll(r.Data())
			if err != nil {
				return // truncated data
			}
			b, err := m.Append(nil)
			if err != nil {
				t.Fatalf("a message the parser accepted cannot be written: %v\n%q", err, m)
			}
			canonical.Write(b)
			canonical.Write(data)
			msgs = append(msgs, m)
			datas = append(datas, data)
		}
		// Parse of format is the identity.
		r2 := NewReader(bytes.NewReader(canonical.Bytes()), 1<<16)
		for i, want := range msgs {
			got, err := r2.ReadMessage()
			if err != nil {
				t.Fatalf("message %d: re-reading its formatted form: %v", i, err)
			}
			data, err := io.ReadAll(r2.Data())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) || !bytes.Equal(data, datas[i]) {
				t.Fatalf("message %d changed in a round trip:\n%q\n%q", i, want, got)
			}
		}
		if _, err := r2.ReadMessage(); err != io.EOF {
			t.Fatalf("formatted stream has more after its messages: %v", err)
		}
	})
}

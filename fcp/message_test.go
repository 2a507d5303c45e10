package fcp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func readAll(tb testing.TB, wire string, maxData int64) ([]*Message, [][]byte, error) {
	tb.Helper()
	r := NewReader(strings.NewReader(wire), maxData)
	var msgs []*Message
	var datas [][]byte
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			return msgs, datas, nil
		}
		if err != nil {
			return msgs, datas, err
		}
		msgs = append(msgs, m)
		d, err := io.ReadAll(r.Data())
		if err != nil {
			return msgs, datas, err
		}
		datas = append(datas, d)
	}
}

func TestReadMessages(t *testing.T) {
	wire := "\n\nClientHello\nName=x=y\nExpectedVersion=2.0\nEnd\n" +
		"ClientPut\nURI=CHK@\nDataLength=3\nData\nabc" +
		"Void\nEndMessage\n"
	msgs, datas, err := readAll(t, wire, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []*Message{
		{Name: "ClientHello", Fields: []Field{{"Name", "x=y"}, {"ExpectedVersion", "2.0"}}},
		{Name: "ClientPut", Fields: []Field{{"URI", "CHK@"}, {"DataLength", "3"}}, HasData: true},
		{Name: "Void", Fields: []Field{}},
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("got %v, want %v", msgs, want)
	}
	if string(datas[1]) != "abc" {
		t.Errorf("data %q, want abc", datas[1])
	}
	if v := msgs[0].Value("Name"); v != "x=y" {
		t.Errorf("split at the first '=': Name=%q, want x=y", v)
	}
}

func TestReadLimits(t *testing.T) {
	cases := []struct {
		name, wire string
		maxData    int64
		code       int
		fatal      bool
	}{
		{"header at limit", strings.Repeat("A", MaxHeaderLine) + "\nEndMessage\n", 0, 0, false},
		{"header over limit", strings.Repeat("A", MaxHeaderLine+1) + "\nEndMessage\n", 0, CodeMessageParse, true},
		{"field at limit", "M\n" + "K=" + strings.Repeat("v", MaxFieldLine-2) + "\nEndMessage\n", 0, 0, false},
		{"field over limit", "M\n" + "K=" + strings.Repeat("v", MaxFieldLine-1) + "\nEndMessage\n", 0, CodeMessageParse, true},
		{"field far over limit", "M\n" + "K=" + strings.Repeat("v", 1<<20) + "\nEndMessage\n", 0, CodeMessageParse, true},
		{"too many fields", "M\n" + strings.Repeat("K=v\n", MaxFields+1) + "EndMessage\n", 0, CodeMessageParse, true},
		{"data at limit", "M\nDataLength=5\nData\n12345", 5, 0, false},
		{"data over limit", "M\nDataLength=6\nData\n123456", 5, CodeInvalidField, true},
		{"data length missing", "M\nData\n", 5, CodeMessageParse, true},
		{"data length negative", "M\nDataLength=-1\nData\n", 5, CodeMessageParse, true},
		{"data length not a number", "M\nDataLength=1e3\nData\n", 5, CodeMessageParse, true},
		{"line without =", "M\nnonsense\nEndMessage\n", 0, CodeMessageParse, false},
		{"empty key", "M\n=v\nEndMessage\n", 0, CodeMessageParse, false},
		{"not UTF-8", "M\nK=\xff\nEndMessage\n", 0, CodeMessageParse, false},
		{"blank lines", strings.Repeat("\n", MaxBlankLines+1) + "M\nEndMessage\n", 0, CodeMessageParse, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs, _, err := readAll(t, tc.wire, tc.maxData)
			if tc.code == 0 {
				if err != nil || len(msgs) != 1 {
					t.Fatalf("got %d messages, %v; want one", len(msgs), err)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a ParseError", err)
			}
			if pe.Code != tc.code || pe.Fatal != tc.fatal {
				t.Errorf("got code %d fatal %v, want code %d fatal %v (%v)", pe.Code, pe.Fatal, tc.code, tc.fatal, pe)
			}
		})
	}
}

func TestReadSoftErrorKeepsFraming(t *testing.T) {
	r := NewReader(strings.NewReader("ClientGet\nIdentifier=a\nbroken\nDataLength=2\nData\nxyGenerateSSK\nEndMessage\n"), 10)
	m, err := r.ReadMessage()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Fatal || m == nil || m.Value("Identifier") != "a" {
		t.Fatalf("got %v, %v; want the message with a non-fatal error", m, err)
	}
	if err := r.Skip(); err != nil {
		t.Fatal(err)
	}
	m, err = r.ReadMessage()
	if err != nil || m.Name != "GenerateSSK" {
		t.Fatalf("after skipping: %v, %v", m, err)
	}
}

func TestReadTruncated(t *testing.T) {
	for _, wire := range []string{"ClientHello\nName=x", "ClientHello\nName=x\n", "M\nDataLength=4\nData\nab"} {
		_, _, err := readAll(t, wire, 10)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: got %v, want io.ErrUnexpectedEOF", wire, err)
		}
	}
}

func TestWriteMessage(t *testing.T) {
	var b bytes.Buffer
	m := NewMessage("AllData", "DataLength", "3", "Identifier", "x")
	m.HasData = true
	if err := WriteMessage(&b, m, strings.NewReader("abcdef")); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "AllData\nDataLength=3\nIdentifier=x\nData\nabc"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := WriteMessage(&b, m, strings.NewReader("ab")); err == nil {
		t.Error("short data was accepted")
	}
	for _, bad := range []*Message{
		{Name: ""},
		{Name: "M\nN"},
		NewMessage("M", "K\n", "v"),
		NewMessage("M", "K=", "v"),
		NewMessage("M", "EndK", "v"),
		NewMessage("M", "K", "v\n"),
		{Name: "M", HasData: true},
	} {
		if _, err := bad.Append(nil); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: got %v, want ErrFormat", bad.Name, err)
		}
	}
}

func TestBooleansCaseInsensitive(t *testing.T) {
	for in, want := range map[string]bool{"true": true, "True": true, "TRUE": true, "yes": true, "false": false, "False": false, "no": false} {
		m := NewMessage("M", "B", in)
		got, err := boolField(m, "B", !want)
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := boolField(NewMessage("M", "B", "maybe"), "B", false); err == nil {
		t.Error("maybe was read as a boolean")
	}
}

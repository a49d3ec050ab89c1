package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []map[string][]string{
		{"a": {"1"}},
		{"b": {"2", "1", ""}, "a": {"x"}, "Content-Type": {"text/plain"}},
		{"k": {strings.Repeat("v", MaxString)}},
	} {
		b := AppendHeader(nil, h)
		got, err := ParseHeader(b)
		if err != nil || !reflect.DeepEqual(got, h) {
			t.Errorf("%v: got %v, %v", h, got, err)
		}
	}
}

func TestHeaderDeterministic(t *testing.T) {
	h := map[string][]string{"z": {"1"}, "a": {"2", "3"}, "m": {"4"}}
	want := []byte{0, 4, 0, 1, 'a', 0, 1, '2', 0, 1, 'a', 0, 1, '3', 0, 1, 'm', 0, 1, '4', 0, 1, 'z', 0, 1, '1'}
	for range 20 {
		if got := AppendHeader(nil, h); !bytes.Equal(got, want) {
			t.Fatalf("got %x want %x", got, want)
		}
	}
}

func TestHeaderEmpty(t *testing.T) {
	b := AppendHeader(nil, nil)
	if !bytes.Equal(b, []byte{0, 0}) {
		t.Fatalf("empty map: %x", b)
	}
	if h, err := ParseHeader(b); err != nil || len(h) != 0 {
		t.Errorf("count 0: %v %v", h, err)
	}
	// A key with no values has no pair.
	if b := AppendHeader(nil, map[string][]string{"k": nil}); !bytes.Equal(b, []byte{0, 0}) {
		t.Errorf("key without values: %x", b)
	}
}

func TestCheckHeader(t *testing.T) {
	long := strings.Repeat("x", MaxString+1)
	many := make([]string, MaxString+1)
	for _, h := range []map[string][]string{
		{"": {"v"}},
		{long: {"v"}},
		{"k": {long}},
		{"k": many},
	} {
		if err := CheckHeader(h); !errors.Is(err, ErrHeader) {
			t.Errorf("CheckHeader accepted a bad header (%v)", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("AppendHeader did not panic on a bad header")
				}
			}()
			AppendHeader(nil, h)
		}()
	}
	if err := CheckHeader(map[string][]string{"k": many[:MaxString]}); err != nil {
		t.Errorf("65535 pairs: %v", err)
	}
}

func TestParseHeaderMalformed(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{0},
		{0, 1},
		{0, 1, 0, 1, 'k'},
		{0, 1, 0, 1, 'k', 0, 1},
		{0, 1, 0, 0, 0, 0},
		{0, 1, 0, 1, 'k', 0, 0, 0},
		{0xff, 0xff, 0, 1, 'k', 0, 0},
	} {
		if h, err := ParseHeader(b); !errors.Is(err, ErrHeader) || h != nil {
			t.Errorf("%x: %v, %v", b, h, err)
		}
	}
}

func TestParseHeaderCopies(t *testing.T) {
	b := AppendHeader(nil, map[string][]string{"k": {"v"}})
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if h["k"][0] != "v" {
		t.Error("ParseHeader result aliases its input")
	}
}

// Header keys and values must be valid UTF-8: CheckHeader (which the SDK
// applies before sending) and the decoder (which the broker applies to
// what arrives) refuse the same headers.
func TestHeaderMustBeUTF8(t *testing.T) {
	for _, h := range []map[string][]string{
		{"k": {"ok", "\xff"}},
		{"\xc3": {"v"}},
	} {
		if err := CheckHeader(h); !errors.Is(err, ErrHeader) {
			t.Errorf("CheckHeader(%q) = %v, want ErrHeader", h, err)
		}
	}
	if err := CheckHeader(map[string][]string{"ключ": {"значение ✓"}}); err != nil {
		t.Errorf("valid UTF-8 refused: %v", err)
	}
	// The same block, built by hand, is refused by the decoder.
	block := []byte{0, 1, 0, 1, 'k', 0, 1, 0xff}
	if _, err := ParseHeader(block); !errors.Is(err, ErrHeader) {
		t.Errorf("ParseHeader of invalid UTF-8: %v", err)
	}
}

package wire

import (
	"errors"
	"testing"
)

func TestDecodeMalformed(t *testing.T) {
	okHdr := []byte{0, 1, 0, 1, 'k', 0, 1, 'v'} // one pair k=v
	blk := func(b []byte) []byte { return append(be32(uint32(len(b))), b...) }
	cases := []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"partial header", []byte{0, 0, 0}, ErrShort},
		{"partial body", frame(TypePub, 0, str16("a.b"), []byte("hi"))[:9], ErrShort},
		{"too large", []byte{0xff, 0xff, 0xff, 0xff, byte(TypePub), 0}, ErrFrameTooLarge},
		{"too large before type", []byte{0, 0x20, 0, 0, 0xee, 0xee}, ErrFrameTooLarge},
		{"type 0", frame(0, 0), ErrUnknownType},
		{"type 0x0c", frame(0x0c, 0), ErrUnknownType},
		{"bye with body", frame(TypeBye, 0, []byte{0}), ErrMalformed},
		{"bye flag", frame(TypeBye, 0x01), ErrBadFlags},
		{"type 0xff", frame(0xff, 0), ErrUnknownType},
		{"hello flag 0x08", frame(TypeHello, 0x08, []byte{1}, str16(""), str16(""), str16(""), str16("")), ErrBadFlags},
		{"hello will missing", frame(TypeHello, FlagWill, []byte{1}, str16(""), str16(""), str16(""), str16("")), ErrMalformed},
		{"hello will no delay", frame(TypeHello, FlagWill, []byte{1}, str16(""), str16(""), str16(""), str16(""), str16("w"), []byte{0}), ErrMalformed},
		{"hello will bad flag", frame(TypeHello, FlagWill, []byte{1}, str16(""), str16(""), str16(""), str16(""), str16("w"), []byte{0x02}, be32(0)), ErrBadFlags},
		{"hello will ttl 0", frame(TypeHello, FlagWill, []byte{1}, str16(""), str16(""), str16(""), str16(""), str16("w"), []byte{0x10}, be32(0), be32(0)), ErrMalformed},
		{"hello will bad header", frame(TypeHello, FlagWill, []byte{1}, str16(""), str16(""), str16(""), str16(""), str16("w"), []byte{0x04}, be32(0), blk([]byte{0, 1})), ErrHeader},
		{"welcome flag 0x02", frame(TypeWelcome, 0x02), ErrBadFlags},
		{"pub flag 0x20", frame(TypePub, 0x20, str16("a")), ErrBadFlags},
		{"pub ttl 0", frame(TypePub, 0x10, append(str16("a"), 0, 0, 0, 0)), ErrMalformed},
		{"pub flag 0x80", frame(TypePub, 0x80, str16("a")), ErrBadFlags},
		{"sub flag 0x08", frame(TypeSub, 0x08, be32(1), str16("a"), str16("")), ErrBadFlags},
		{"sub retain handling 3", frame(TypeSub, 0x06, be32(1), str16("a"), str16("")), ErrMalformed},
		{"unsub flag", frame(TypeUnsub, 0x04, be32(1), be32(0)), ErrBadFlags},
		{"msg flag 0x40", frame(TypeMsg, 0x40, be32(1), str16("a")), ErrBadFlags},
		{"msg ttl 0", frame(TypeMsg, FlagMsgTTL, be32(1), str16("a"), be32(0)), ErrMalformed},
		{"msg ttl cut", frame(TypeMsg, FlagMsgTTL, be32(1), str16("a"), []byte{0, 1}), ErrMalformed},
		{"ack flag", frame(TypeAck, 0x01, be64(1), be16(0), str16("")), ErrBadFlags},
		{"ping flag", frame(TypePing, 0x01), ErrBadFlags},
		{"pong flag", frame(TypePong, 0x20), ErrBadFlags},
		{"err flag 0x02", frame(TypeErr, 0x02, be16(1), be32(0), str16("")), ErrBadFlags},
		{"hello version 0", frame(TypeHello, 0, []byte{0}, str16("a"), str16(""), str16(""), str16("")), ErrMalformed},
		{"hello no pass", frame(TypeHello, 0, []byte{1}, str16("a"), str16(""), str16("")), ErrMalformed},
		{"hello empty", frame(TypeHello, 0), ErrMalformed},
		{"hello trailing", frame(TypeHello, 0, []byte{1}, str16(""), str16(""), str16(""), str16(""), []byte{0}), ErrMalformed},
		{"welcome version 0", frame(TypeWelcome, 0, []byte{0}, str16(""), str16(""), be64(1), be32(1), be32(1)), ErrMalformed},
		{"welcome short", frame(TypeWelcome, 0, []byte{1}, str16(""), str16(""), be64(1), be32(1)), ErrMalformed},
		{"welcome trailing", frame(TypeWelcome, 0, []byte{1}, str16(""), str16(""), be64(1), be32(1), be32(1), []byte{9}), ErrMalformed},
		{"pub empty body", frame(TypePub, 0), ErrMalformed},
		{"pub topic past end", frame(TypePub, 0, be16(5), []byte("a.b")), ErrMalformed},
		{"pub topic len 0xffff", frame(TypePub, 0, be16(0xffff)), ErrMalformed},
		{"pub reply past end", frame(TypePub, FlagReply, str16("a"), be16(3), []byte("r")), ErrMalformed},
		{"pub reply flag, empty reply", frame(TypePub, FlagReply, str16("a"), str16("")), ErrMalformed},
		{"pub ack id cut", frame(TypePub, FlagAck, str16("a"), []byte{0, 0, 0, 1}), ErrMalformed},
		{"pub ack flag, id 0", frame(TypePub, FlagAck, str16("a"), be64(0)), ErrMalformed},
		{"pub header length cut", frame(TypePub, FlagHeader, str16("a"), []byte{0, 0}), ErrMalformed},
		{"pub header past end", frame(TypePub, FlagHeader, str16("a"), be32(100), okHdr), ErrHeader},
		{"pub header no count", frame(TypePub, FlagHeader, str16("a"), blk([]byte{0})), ErrHeader},
		{"pub header empty block", frame(TypePub, FlagHeader, str16("a"), blk(nil)), ErrHeader},
		{"pub header count too high", frame(TypePub, FlagHeader, str16("a"), blk(append([]byte{0, 2}, okHdr[2:]...))), ErrHeader},
		{"pub header count 0xffff", frame(TypePub, FlagHeader, str16("a"), blk([]byte{0xff, 0xff})), ErrHeader},
		{"pub header empty key", frame(TypePub, FlagHeader, str16("a"), blk([]byte{0, 1, 0, 0, 0, 1, 'v'})), ErrHeader},
		{"pub header value past block", frame(TypePub, FlagHeader, str16("a"), blk([]byte{0, 1, 0, 1, 'k', 0, 2, 'v'}), []byte("payload")), ErrHeader},
		{"pub header trailing in block", frame(TypePub, FlagHeader, str16("a"), blk(append(okHdr[:len(okHdr):len(okHdr)], 0))), ErrHeader},
		{"sub no queue", frame(TypeSub, 0, be32(1), str16("a")), ErrMalformed},
		{"sub trailing", frame(TypeSub, 0, be32(1), str16("a"), str16(""), []byte{0}), ErrMalformed},
		{"sub sid cut", frame(TypeSub, 0, []byte{0, 1}), ErrMalformed},
		{"unsub short", frame(TypeUnsub, 0, be32(1)), ErrMalformed},
		{"unsub trailing", frame(TypeUnsub, 0, be32(1), be32(0), []byte{0}), ErrMalformed},
		{"msg sid cut", frame(TypeMsg, 0, []byte{0, 0, 1}), ErrMalformed},
		{"msg topic past end", frame(TypeMsg, 0, be32(1), be16(9), []byte("a")), ErrMalformed},
		{"msg reply flag, empty reply", frame(TypeMsg, FlagReply, be32(1), str16("a"), str16("")), ErrMalformed},
		{"msg bad header", frame(TypeMsg, FlagHeader, be32(1), str16("a"), blk([]byte{0, 1})), ErrHeader},
		{"ack short", frame(TypeAck, 0, be64(1), be16(0)), ErrMalformed},
		{"ack text past end", frame(TypeAck, 0, be64(1), be16(0), be16(4), []byte("ab")), ErrMalformed},
		{"ack trailing", frame(TypeAck, 0, be64(1), be16(0), str16(""), []byte{1}), ErrMalformed},
		{"ping with body", frame(TypePing, 0, []byte{0}), ErrMalformed},
		{"pong with body", frame(TypePong, 0, []byte{0, 0, 0, 0}), ErrMalformed},
		{"err short", frame(TypeErr, 0, be16(1), be32(0)), ErrMalformed},
		{"err trailing", frame(TypeErr, FlagFatal, be16(1), be32(0), str16("x"), []byte{0}), ErrMalformed},
	}
	for _, c := range cases {
		var f Frame
		n, err := Decode(c.p, &f, DefaultMaxFrame)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if n != 0 {
			t.Errorf("%s: consumed %d on error", c.name, n)
		}
		if c.want == ErrShort || c.want == ErrFrameTooLarge {
			if err != c.want {
				t.Errorf("%s: %v is wrapped", c.name, err)
			}
		}
	}
}

func TestDecodeLimit(t *testing.T) {
	p := AppendPub(nil, "a", "", nil, make([]byte, 100), false, 0)
	body := len(p) - HeaderLen
	var f Frame
	if _, err := Decode(p, &f, body); err != nil {
		t.Errorf("body exactly at the limit: %v", err)
	}
	if _, err := Decode(p, &f, body-1); err != ErrFrameTooLarge {
		t.Errorf("body one over the limit: %v", err)
	}
	// The limit is checked before completeness: a partial frame over the
	// limit is refused rather than waited for.
	if _, err := Decode(p[:10], &f, body-1); err != ErrFrameTooLarge {
		t.Errorf("partial frame over the limit: %v", err)
	}
	// maxFrame <= 0 means DefaultMaxFrame.
	big := []byte{0, 0x11, 0, 1, byte(TypePub), 0} // DefaultMaxFrame + 1
	if _, err := Decode(big, &f, 0); err != ErrFrameTooLarge {
		t.Errorf("default limit: %v", err)
	}
}

func TestDecodeTooLargeNoAlloc(t *testing.T) {
	p := []byte{0xff, 0xff, 0xff, 0xff, byte(TypePub), 0}
	var f Frame
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Decode(p, &f, DefaultMaxFrame); err != ErrFrameTooLarge {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations for an oversized frame", allocs)
	}
}

func TestDecodeIgnoresFollowingBytes(t *testing.T) {
	p := AppendPing(nil)
	p = append(p, 0xff, 0xff)
	var f Frame
	if n, err := Decode(p, &f, 0); err != nil || n != HeaderLen {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

func TestDecodeResetsFrame(t *testing.T) {
	f := Frame{SID: 9, Topic: []byte("old"), Text: []byte("old"), Hello: Hello{Name: "old"}}
	if _, err := Decode(AppendPing(nil), &f, 0); err != nil {
		t.Fatal(err)
	}
	if !sameFrame(&f, &Frame{Type: TypePing}) {
		t.Errorf("fields left from the previous frame: %+v", f)
	}
}

func TestDecodeSlicesCapped(t *testing.T) {
	p := AppendPub(nil, "a", "r", nil, []byte("xy"), false, 0)
	p = AppendPing(p)
	var f Frame
	if _, err := Decode(p, &f, 0); err != nil {
		t.Fatal(err)
	}
	if cap(f.Topic) != len(f.Topic) || cap(f.Reply) != len(f.Reply) || cap(f.Payload) != len(f.Payload) {
		t.Error("decoded slices have capacity past their field: an append would overwrite the buffer")
	}
}

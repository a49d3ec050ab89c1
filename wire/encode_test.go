package wire

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestAppendRoundTrip(t *testing.T) {
	hdr := AppendHeader(nil, map[string][]string{"k": {"v1", "v2"}, "content-type": {"json"}})
	big := bytes.Repeat([]byte{0xab}, 70000) // payloads are not s16: no 64 KiB limit
	cases := []struct {
		name string
		enc  []byte
		want Frame
	}{
		{"hello", AppendHello(nil, &Hello{Version: 1, NoEcho: true, Name: "n", Token: "t", User: "u", Pass: "p"}),
			Frame{Type: TypeHello, Flags: FlagNoEcho, Hello: Hello{Version: 1, NoEcho: true, Name: "n", Token: "t", User: "u", Pass: "p"}}},
		{"hello will", AppendHello(nil, &Hello{Name: "n", Will: &Will{Topic: "w", Retain: true, DelayMS: 5, TTL: 9, Header: hdr, Payload: []byte("gone")}}),
			Frame{Type: TypeHello, Flags: FlagWill, Hello: Hello{Version: 1, Name: "n", Will: &Will{Topic: "w", Retain: true, DelayMS: 5, TTL: 9, Header: hdr, Payload: []byte("gone")}}}},
		{"hello plain will", AppendHello(nil, &Hello{Will: &Will{Topic: "w"}}),
			Frame{Type: TypeHello, Flags: FlagWill, Hello: Hello{Version: 1, Will: &Will{Topic: "w"}}}},
		{"hello default version", AppendHello(nil, &Hello{}),
			Frame{Type: TypeHello, Hello: Hello{Version: Version}}},
		{"hello future version", AppendHello(nil, &Hello{Version: 9}),
			Frame{Type: TypeHello, Hello: Hello{Version: 9}}},
		{"welcome", AppendWelcome(nil, &Welcome{Version: 1, ServerID: "id", ServerVersion: "v", SessionID: 1<<64 - 1, MaxPayload: 1 << 20, HeartbeatMS: 5}),
			Frame{Type: TypeWelcome, Welcome: Welcome{Version: 1, ServerID: "id", ServerVersion: "v", SessionID: 1<<64 - 1, MaxPayload: 1 << 20, HeartbeatMS: 5}}},
		{"pub plain", AppendPub(nil, "a", "", nil, []byte("x"), false, 0),
			Frame{Type: TypePub, Topic: []byte("a"), Payload: []byte("x")}},
		{"pub all", AppendPub(nil, "a.b", "r.1", hdr, []byte("pay"), true, 99),
			Frame{Type: TypePub, Flags: FlagRetain | FlagReply | FlagHeader | FlagAck, Topic: []byte("a.b"), Reply: []byte("r.1"), AckID: 99, Header: hdr, Payload: []byte("pay")}},
		{"pub ack only", AppendPub(nil, "a", "", nil, nil, false, 1),
			Frame{Type: TypePub, Flags: FlagAck, Topic: []byte("a"), AckID: 1}},
		{"pub big payload", AppendPub(nil, "a", "", nil, big, false, 0),
			Frame{Type: TypePub, Topic: []byte("a"), Payload: big}},
		{"sub", AppendSub(nil, 7, "a.*", "q"),
			Frame{Type: TypeSub, SID: 7, Topic: []byte("a.*"), Queue: []byte("q")}},
		{"unsub", AppendUnsub(nil, 7, 3),
			Frame{Type: TypeUnsub, SID: 7, Max: 3}},
		{"msg", AppendMsg(nil, FlagRetain|FlagNoResponders, 5, []byte("t"), []byte("r"), hdr, []byte("p")),
			Frame{Type: TypeMsg, Flags: FlagRetain | FlagNoResponders | FlagReply | FlagHeader, SID: 5, Topic: []byte("t"), Reply: []byte("r"), Header: hdr, Payload: []byte("p")}},
		{"msg ignores reply/header/ttl/unknown flags", AppendMsg(nil, FlagReply|FlagHeader|FlagMsgTTL|0x80, 5, []byte("t"), nil, nil, nil),
			Frame{Type: TypeMsg, SID: 5, Topic: []byte("t")}},
		{"msg retain flag and ttl", AppendMsgTTL(nil, FlagRetainFlag, 5, 1500, []byte("t"), []byte("r"), hdr, []byte("p")),
			Frame{Type: TypeMsg, Flags: FlagRetainFlag | FlagMsgTTL | FlagReply | FlagHeader, SID: 5, TTL: 1500, Topic: []byte("t"), Reply: []byte("r"), Header: hdr, Payload: []byte("p")}},
		{"sub no-local, retain never", AppendSubFlags(nil, SubFlags(true, RetainNever), 7, "a.>", ""),
			Frame{Type: TypeSub, Flags: FlagNoLocal | 0x04, SID: 7, Topic: []byte("a.>"), Queue: []byte("")}},
		{"bye", AppendBye(nil), Frame{Type: TypeBye}},
		{"ack", AppendAck(nil, 3, CodeStore, "disk"),
			Frame{Type: TypeAck, AckID: 3, Code: CodeStore, Text: []byte("disk")}},
		{"err", AppendErr(nil, true, CodeSlowConsumer, 0, "slow"),
			Frame{Type: TypeErr, Flags: FlagFatal, Code: CodeSlowConsumer, Text: []byte("slow")}},
		{"err sid", AppendErr(nil, false, CodeBadSubscription, 12, ""),
			Frame{Type: TypeErr, SID: 12, Code: CodeBadSubscription}},
		{"ping", AppendPing(nil), Frame{Type: TypePing}},
		{"pong", AppendPong(nil), Frame{Type: TypePong}},
	}
	for _, c := range cases {
		f := decodeAll(t, c.enc)
		if !sameFrame(&f, &c.want) {
			t.Errorf("%s: decoded %+v\nwant %+v", c.name, f, c.want)
		}
		if again := AppendFrame(nil, &f); !bytes.Equal(again, c.enc) {
			t.Errorf("%s: AppendFrame differs", c.name)
		}
		if n, ok := FrameLen(c.enc); !ok || n != len(c.enc) {
			t.Errorf("%s: FrameLen = %d, %v", c.name, n, ok)
		}
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	dst := []byte("prefix")
	dst = AppendPing(dst)
	dst = AppendSub(dst, 1, "a", "")
	if !bytes.HasPrefix(dst, []byte("prefix")) {
		t.Fatal("prefix lost")
	}
	p := dst[len("prefix"):]
	var f Frame
	n, err := Decode(p, &f, 0)
	if err != nil || f.Type != TypePing {
		t.Fatalf("first frame: %v %v", f.Type, err)
	}
	if _, err := Decode(p[n:], &f, 0); err != nil || f.Type != TypeSub {
		t.Fatalf("second frame: %v %v", f.Type, err)
	}
}

func TestAppendLongString(t *testing.T) {
	long := strings.Repeat("x", MaxString+1)
	for name, fn := range map[string]func(){
		"pub topic": func() { AppendPub(nil, long, "", nil, nil, false, 0) },
		"pub reply": func() { AppendPub(nil, "a", long, nil, nil, false, 0) },
		"msg topic": func() { AppendMsg(nil, 0, 1, []byte(long), nil, nil, nil) },
		"sub queue": func() { AppendSub(nil, 1, "a", long) },
		"hello":     func() { AppendHello(nil, &Hello{Token: long}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic for a %d-byte s16 field", name, len(long))
				}
			}()
			fn()
		}()
	}
	// Exactly MaxString is fine.
	f := decodeAll(t, AppendSub(nil, 1, long[:MaxString], ""))
	if len(f.Topic) != MaxString {
		t.Errorf("topic of %d bytes", len(f.Topic))
	}
}

func TestAppendClipsText(t *testing.T) {
	text := strings.Repeat("é", MaxString) // 2 bytes a rune
	for _, enc := range [][]byte{AppendErr(nil, false, CodeInternal, 0, text), AppendAck(nil, 1, CodeInternal, text)} {
		f := decodeAll(t, enc)
		if len(f.Text) != MaxString-1 || !strings.HasPrefix(text, string(f.Text)) {
			t.Errorf("%v text of %d bytes", f.Type, len(f.Text))
		}
	}
}

func TestAppendNoAllocWithRoom(t *testing.T) {
	buf := make([]byte, 0, 4096)
	payload := make([]byte, 1024)
	topic, reply := []byte("orders.eu.created"), []byte("_INBOX.abc.1")
	hdr := AppendHeader(nil, map[string][]string{"k": {"v"}})
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendPub(buf[:0], "orders.eu.created", "_INBOX.abc.1", hdr, payload, true, 1)
		b = AppendMsg(b, FlagRetain, 1, topic, reply, hdr, payload)
		b = AppendSub(b, 1, "a.>", "q")
		b = AppendUnsub(b, 1, 0)
		b = AppendAck(b, 1, CodeOK, "")
		b = AppendErr(b, false, CodeBadTopic, 0, "bad")
		b = AppendPing(b)
		_ = AppendPong(b)
	})
	if allocs != 0 {
		t.Errorf("%v allocations with room in dst", allocs)
	}
}

func TestStrings(t *testing.T) {
	if TypeErr.String() != "ERR" || TypePub.String() != "PUB" || TypeBye.String() != "BYE" || Type(0x0c).String() != "Type(0xc)" || Type(0).String() != "Type(0x0)" {
		t.Error("Type.String")
	}
	if CodeOK.String() != "OK" || CodeInternal.String() != "INTERNAL" || CodeRetainedLimit.String() != "RETAINED_LIMIT" || CodePermission.String() != "PERMISSION_DENIED" || Code(19).String() != "Code(19)" {
		t.Error("Code.String")
	}
	if !(FlagRetain | FlagAck).Has(FlagAck) || FlagRetain.Has(FlagRetain|FlagAck) {
		t.Error("Flags.Has")
	}
}

func TestChunkLen(t *testing.T) {
	var p []byte
	for range 10 {
		p = AppendPub(p, "t", "", nil, make([]byte, 91), false, 0) // 100-byte frames
	}
	for _, tc := range []struct{ limit, want int }{
		{2000, 1000}, // fits whole
		{1000, 1000},
		{350, 300}, // whole frames only
		{100, 100},
		{50, 100}, // at least one frame
	} {
		if got := ChunkLen(p, tc.limit); got != tc.want {
			t.Errorf("ChunkLen(limit %d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	if got := ChunkLen(p[:150], 120); got != 100 {
		t.Errorf("partial tail: %d", got)
	}
}

func TestTTLMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want uint32
	}{
		{0, 0}, {-time.Second, 0}, {time.Nanosecond, 1}, {time.Millisecond, 1},
		{1500 * time.Microsecond, 2}, {time.Minute, 60000}, {1 << 62, math.MaxUint32},
	} {
		if got := TTLMillis(c.d); got != c.want {
			t.Errorf("TTLMillis(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

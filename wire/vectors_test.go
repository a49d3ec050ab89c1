package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestVectorsRoundTrip(t *testing.T) {
	for _, v := range loadVectors(t) {
		f := decodeAll(t, v.data)
		if got := AppendFrame(nil, &f); !bytes.Equal(got, v.data) {
			t.Errorf("%s: re-encoded\n got %x\nwant %x", v.name, got, v.data)
		}
	}
}

func TestVectorsInProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range loadVectors(t) {
		if !strings.Contains(string(doc), v.line) {
			t.Errorf("docs/protocol.md does not quote vector %q verbatim", v.line)
		}
	}
}

// TestVectorsFromEncoders checks that the public encoders produce the
// vectors, so the doc, the decoder and the encoders agree.
func TestVectorsFromEncoders(t *testing.T) {
	hdrAll := AppendHeader(nil, map[string][]string{"tag": {"a", "b"}, "id": {"42"}})
	hdrID := AppendHeader(nil, map[string][]string{"id": {"42"}})
	inbox := []byte("_INBOX.k3.1")
	build := map[string][]byte{
		"hello":              AppendHello(nil, &Hello{Version: 1, Name: "app"}),
		"hello-noecho-creds": AppendHello(nil, &Hello{Version: 1, NoEcho: true, Name: "cli", Token: "t0k", User: "bob", Pass: "pw"}),
		"hello-will": AppendHello(nil, &Hello{Version: 1, Name: "dev", Will: &Will{
			Topic: "dev.gone", Retain: true, DelayMS: 5000, TTL: 60000, Payload: []byte("off"),
		}}),
		"sub-nolocal-retain-never": AppendSubFlags(nil, SubFlags(true, RetainNever), 3, "chat.>", ""),
		"sub-retain-if-new":        AppendSubFlags(nil, SubFlags(false, RetainIfNew), 4, "cfg.*", ""),
		"msg-retain-flag-ttl":      AppendMsgTTL(nil, FlagRetainFlag, 1, 1500, []byte("cfg.x"), nil, nil, []byte("on")),
		"bye":                      AppendBye(nil),
		"hello-limits":             AppendHello(nil, &Hello{Version: 1, Name: "app", WantLimits: true}),
		"welcome-limits": AppendWelcome(nil, &Welcome{Version: 1, ServerID: "srv1", ServerVersion: "0.1.0", SessionID: 42,
			MaxPayload: 1 << 20, HeartbeatMS: 30000, MaxFrame: 1<<20 + 64<<10, DeadPeerMS: 60000}),
		"welcome":           AppendWelcome(nil, &Welcome{Version: 1, ServerID: "srv1", ServerVersion: "0.1.0", SessionID: 42, MaxPayload: 1 << 20, HeartbeatMS: 30000}),
		"pub":               AppendPub(nil, "a.b", "", nil, []byte("hi"), false, 0),
		"pub-empty-payload": AppendPub(nil, "a.b", "", nil, nil, false, 0),
		"pub-retain":        AppendPub(nil, "cfg.x", "", nil, []byte("on"), true, 0),
		"pub-retain-delete": AppendPub(nil, "cfg.x", "", nil, nil, true, 0),
		"pub-retain-ttl":    AppendPubTTL(nil, "cfg.x", "", nil, []byte("on"), true, 9, 60000),
		"pub-request":       AppendPub(nil, "svc.time", "_INBOX.k3.1", nil, nil, false, 0),
		"pub-all":           AppendPub(nil, "orders.eu", "_INBOX.k3.2", hdrAll, []byte("{}"), true, 7),
		"sub":               AppendSub(nil, 1, "orders.>", ""),
		"sub-queue":         AppendSub(nil, 2, "orders.*.created", "workers"),
		"unsub":             AppendUnsub(nil, 1, 0),
		"unsub-max":         AppendUnsub(nil, 2, 5),
		"msg":               AppendMsg(nil, 0, 1, []byte("a.b"), nil, nil, []byte("hi")),
		"msg-headers-reply": AppendMsg(nil, 0, 3, []byte("svc.time"), inbox, hdrID, []byte("{}")),
		"msg-retained":      AppendMsg(nil, FlagRetain, 4, []byte("cfg.x"), nil, nil, []byte("on")),
		"msg-no-responders": AppendMsg(nil, FlagNoResponders, 9, inbox, nil, nil, nil),
		"ack":               AppendAck(nil, 7, CodeOK, ""),
		"ack-error":         AppendAck(nil, 8, CodePayloadTooLarge, "payload too large"),
		"ping":              AppendPing(nil),
		"pong":              AppendPong(nil),
		"err":               AppendErr(nil, false, CodeBadTopic, 0, "bad topic"),
		"err-sub":           AppendErr(nil, false, CodeTooManySubs, 4, "too many subscriptions"),
		"err-fatal":         AppendErr(nil, true, CodeAuth, 0, "authentication failed"),
	}
	seen := map[Type]bool{}
	for _, v := range loadVectors(t) {
		seen[Type(v.data[4])] = true
		want, ok := build[v.name]
		if !ok {
			t.Errorf("vector %s has no encoder case in this test", v.name)
			continue
		}
		if !bytes.Equal(want, v.data) {
			t.Errorf("%s: encoder gives\n%x\nvector is\n%x", v.name, want, v.data)
		}
		delete(build, v.name)
	}
	for name := range build {
		t.Errorf("vector %s missing from testdata/vectors.txt", name)
	}
	for ty := TypeHello; ty <= TypeErr; ty++ {
		if !seen[ty] {
			t.Errorf("no vector of type %v", ty)
		}
	}
}

func TestVectorsFields(t *testing.T) {
	vs := map[string]Frame{}
	for _, v := range loadVectors(t) {
		vs[v.name] = decodeAll(t, v.data)
	}
	f := vs["pub-all"]
	if f.Type != TypePub || f.Flags != FlagRetain|FlagReply|FlagHeader|FlagAck ||
		string(f.Topic) != "orders.eu" || string(f.Reply) != "_INBOX.k3.2" ||
		f.AckID != 7 || string(f.Payload) != "{}" {
		t.Errorf("pub-all: %+v", f)
	}
	h, err := ParseHeader(f.Header)
	if want := map[string][]string{"id": {"42"}, "tag": {"a", "b"}}; err != nil || !reflect.DeepEqual(h, want) {
		t.Errorf("pub-all header: %v, %v", h, err)
	}
	f = vs["hello-noecho-creds"]
	if want := (Hello{Version: 1, NoEcho: true, Name: "cli", Token: "t0k", User: "bob", Pass: "pw"}); f.Hello != want || f.Flags != FlagNoEcho {
		t.Errorf("hello-noecho-creds: %+v", f.Hello)
	}
	f = vs["welcome"]
	if want := (Welcome{Version: 1, ServerID: "srv1", ServerVersion: "0.1.0", SessionID: 42, MaxPayload: 1 << 20, HeartbeatMS: 30000}); f.Welcome != want {
		t.Errorf("welcome: %+v", f.Welcome)
	}
	f = vs["welcome-limits"]
	if f.Welcome.MaxFrame != DefaultMaxFrame || f.Welcome.DeadPeerMS != 60000 || f.Flags != FlagLimits {
		t.Errorf("welcome-limits: %+v", f.Welcome)
	}
	if f = vs["hello-limits"]; !f.Hello.WantLimits || f.Flags != FlagWantLimits {
		t.Errorf("hello-limits: %+v", f.Hello)
	}
	if f = vs["unsub-max"]; f.SID != 2 || f.Max != 5 {
		t.Errorf("unsub-max: %+v", f)
	}
	if f = vs["sub-queue"]; f.SID != 2 || string(f.Topic) != "orders.*.created" || string(f.Queue) != "workers" {
		t.Errorf("sub-queue: %+v", f)
	}
	if f = vs["msg-no-responders"]; !f.Flags.Has(FlagNoResponders) || f.SID != 9 || string(f.Topic) != "_INBOX.k3.1" || len(f.Payload) != 0 {
		t.Errorf("msg-no-responders: %+v", f)
	}
	if f = vs["msg-headers-reply"]; f.SID != 3 || string(f.Reply) != "_INBOX.k3.1" || !f.Flags.Has(FlagHeader) {
		t.Errorf("msg-headers-reply: %+v", f)
	}
	if f = vs["err-fatal"]; !f.Flags.Has(FlagFatal) || f.Code != CodeAuth || f.SID != 0 || string(f.Text) != "authentication failed" {
		t.Errorf("err-fatal: %+v", f)
	}
	if f = vs["pub-retain-ttl"]; f.TTL != 60000 || f.AckID != 9 || !f.Flags.Has(FlagRetain) || string(f.Payload) != "on" {
		t.Errorf("pub-retain-ttl: %+v", f)
	}
	if f = vs["ack-error"]; f.AckID != 8 || f.Code != CodePayloadTooLarge || string(f.Text) != "payload too large" {
		t.Errorf("ack-error: %+v", f)
	}
}

// TestMalformedVectors checks wire/testdata/malformed.txt: Decode refuses
// each frame with the error the file names, and docs/protocol.md quotes
// every line, and no other, in its table of malformed inputs.
func TestMalformedVectors(t *testing.T) {
	want := map[string]error{
		"too-large": ErrFrameTooLarge, "unknown-type": ErrUnknownType, "bad-flags": ErrBadFlags,
		"malformed": ErrMalformed, "header": ErrHeader,
	}
	data, err := os.ReadFile("testdata/malformed.txt")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "Malformed inputs a decoder must refuse")
	if !ok {
		t.Fatal("no malformed-input table in docs/protocol.md")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	docRows := 0
	for line := range strings.SplitSeq(table, "\n") {
		if strings.HasPrefix(line, "| `") {
			docRows++
		}
	}
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, " | ")
		if len(fields) != 3 {
			t.Fatalf("bad line %q", line)
		}
		name, hexs, why := fields[0], fields[1], fields[2]
		sentinel, ok := want[name]
		if !ok {
			t.Fatalf("%q: unknown error %q", line, name)
		}
		p, err := hex.DecodeString(strings.ReplaceAll(hexs, " ", ""))
		if err != nil {
			t.Fatalf("%q: %v", hexs, err)
		}
		var f Frame
		if _, err := Decode(p, &f, DefaultMaxFrame); !errors.Is(err, sentinel) {
			t.Errorf("%s (%s): Decode gives %v, want %v", hexs, why, err, sentinel)
		}
		if row := "| `" + hexs + "` | " + why + " |"; !strings.Contains(table, row) {
			t.Errorf("docs/protocol.md does not quote %q", row)
		}
		n++
	}
	if n != docRows {
		t.Errorf("docs/protocol.md has %d malformed rows, the testdata file %d", docRows, n)
	}
	if n < 10 {
		t.Errorf("only %d malformed vectors", n)
	}
}

package cluster

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

func matchTopics(t *testing.T, s *Store, filter string) []string {
	t.Helper()
	var out []string
	if err := s.Match(filter, func(m broker.RetainedMessage) bool {
		out = append(out, m.Topic+"="+string(m.Payload))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func set(t *testing.T, s *Store, topic, payload string, expires time.Time) error {
	t.Helper()
	done := false
	err := s.Set(broker.RetainedMessage{Topic: topic, Payload: []byte(payload), Header: []byte("h"), Expires: expires}, func(err error) {
		if err != nil {
			t.Errorf("done(%v)", err)
		}
		done = true
	})
	if err == nil && !done {
		t.Fatal("Set returned without calling done")
	}
	return err
}

func TestStoreMatchesLikeTheTrie(t *testing.T) {
	r := startRedis(t)
	s := NewStore(r.client(t), "", 0, 0, time.Second)
	for _, topic := range []string{"a.b.c", "a.x.c", "a.b", "a.b.c.d", "$SYS.x", "q?[x]\\.y"} {
		if err := set(t, s, topic, "v", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	for filter, want := range map[string][]string{
		"a.*.c":     {"a.b.c=v", "a.x.c=v"},
		"a.>":       {"a.b.c.d=v", "a.b.c=v", "a.b=v", "a.x.c=v"},
		"a.b":       {"a.b=v"},
		">":         {"a.b.c.d=v", "a.b.c=v", "a.b=v", "a.x.c=v", "q?[x]\\.y=v"}, // not $SYS
		"$SYS.*":    {"$SYS.x=v"},
		"q?[x]\\.*": {"q?[x]\\.y=v"},
		"nothing":   nil,
	} {
		if got := matchTopics(t, s, filter); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", filter, got, want)
		}
	}
	// A second store on the same Redis (another node) sees the same.
	other := NewStore(r.client(t), "", 0, 0, time.Second)
	if other.Len() != 6 {
		t.Fatalf("other node's Len %d", other.Len())
	}
	if err := set(t, other, "a.b", "", time.Time{}); err != nil { // delete
		t.Fatal(err)
	}
	if got := matchTopics(t, s, "a.b"); got != nil {
		t.Fatalf("deleted on one node, still on another: %v", got)
	}
}

func TestStoreLimitsAndExpiry(t *testing.T) {
	r := startRedis(t)
	s := NewStore(r.client(t), "p", 2, 100, time.Second)
	if err := set(t, s, "a", "1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := set(t, s, "b", "2", time.Now().Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := set(t, s, "c", "3", time.Time{}); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("third message with a limit of 2: %v", err)
	}
	if err := set(t, s, "a", "replaced", time.Time{}); err != nil {
		t.Fatalf("replacing counts once: %v", err)
	}
	big := string(make([]byte, 100))
	if err := set(t, s, "a", big, time.Time{}); !errors.Is(err, broker.ErrRetainedLimit) {
		t.Fatalf("over the byte limit: %v", err)
	}
	if got := matchTopics(t, s, "a"); len(got) != 1 || got[0] != "a=replaced" {
		t.Fatalf("a refused message changed the store: %v", got)
	}
	time.Sleep(400 * time.Millisecond)
	// b expired: it is not matched, not counted, and makes room.
	if got := matchTopics(t, s, "b"); got != nil {
		t.Fatalf("expired message matched: %v", got)
	}
	if err := set(t, s, "c", "3", time.Time{}); err != nil {
		t.Fatalf("expired message did not make room: %v", err)
	}
	if n := s.Len(); n != 2 {
		t.Fatalf("Len %d, want 2", n)
	}
	r.proc.Kill()
	if err := set(t, s, "d", "4", time.Time{}); !errors.Is(err, broker.ErrStore) {
		t.Fatalf("Set with redis gone: %v", err)
	}
	// A subscription still goes live, without its replay, counted.
	if err := s.Match("a", func(broker.RetainedMessage) bool { return true }); err != nil || s.ReplaysSkipped() != 1 {
		t.Fatalf("Match with redis gone: %v, %d skipped", err, s.ReplaysSkipped())
	}
}

// With AOF and appendfsync always, an acknowledged retained message
// survives Redis being killed, as docs/cluster.md says.
func TestStoreSurvivesRedisKillWithAOF(t *testing.T) {
	r := startRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	s := NewStore(r.client(t), "", 0, 0, time.Second)
	if err := set(t, s, "cfg.a", "kept", time.Time{}); err != nil {
		t.Fatal(err)
	}
	r.proc.Kill()
	r.start()
	waitFor(t, "redis to load its AOF", func() bool { return s.Len() == 1 })
	if got := matchTopics(t, s, "cfg.*"); len(got) != 1 || got[0] != "cfg.a=kept" {
		t.Fatalf("after the kill: %v", got)
	}
}

package boltstore

import (
	"errors"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

// A storeStep sets a message (topic not empty), or checks the store (want
// not nil): Match(">") gives want and Len counts it. reopen closes and
// reopens a bolt store on the same file before the step; a memory store
// carries on.
type storeStep struct {
	topic, header, payload string
	expires                time.Duration // from now; < 0 is already expired, 0 never
	err                    string        // Set's error; "" for none
	reopen                 bool
	want                   map[string]string
}

// expired and later are Expires offsets: long past, and far ahead of any
// test run.
const (
	expired = -time.Hour
	later   = time.Hour
)

// TestStoresAgree runs one table of limits and expiries against both
// stores, each step's outcome stated once: a store that counts, limits or
// expires a message differently from the other fails.
func TestStoresAgree(t *testing.T) {
	cases := []struct {
		name                  string
		maxMessages, maxBytes int
		steps                 []storeStep
	}{
		{"message limit", 2, 0, []storeStep{
			{topic: "a", payload: "1"},
			{topic: "b", payload: "2"},
			{topic: "c", payload: "3", err: "broker: retained store limit reached: 2 messages"},
			{topic: "a", payload: "1b"}, // a replacement is not one more
			{topic: "b"},                // a delete frees room
			{topic: "c", payload: "3"},
			{want: map[string]string{"a": "1b", "c": "3"}},
		}},
		{"byte limit counts topic, header and payload", 0, 20, []storeStep{
			{topic: "a", header: "hhh", payload: "123456"}, // 10 bytes
			{topic: "b", header: "hhh", payload: "123456"}, // 20: at the limit
			{topic: "a", header: "hhh", payload: "1234567", err: "broker: retained store limit reached: 20 bytes"},
			{topic: "a", payload: "123456789"}, // a replacement counts its own size: 20
			{topic: "cc", payload: "x", err: "broker: retained store limit reached: 20 bytes"},
			{want: map[string]string{"a": "123456789", "b": "123456"}},
		}},
		{"expired messages are neither delivered nor counted", 0, 0, []storeStep{
			{topic: "e.past", payload: "p", expires: expired},
			{topic: "e.later", payload: "l", expires: later},
			{topic: "e.never", payload: "n"},
			{want: map[string]string{"e.later": "l", "e.never": "n"}},
			{topic: "e.past", payload: "back"}, // set again, it is live
			{want: map[string]string{"e.later": "l", "e.never": "n", "e.past": "back"}},
		}},
		{"an expired message makes room under the message limit", 2, 0, []storeStep{
			{topic: "a", payload: "1", expires: expired},
			{topic: "b", payload: "2"},
			{topic: "c", payload: "3"}, // no Match has seen a yet
			{topic: "d", payload: "4", err: "broker: retained store limit reached: 2 messages"},
			{want: map[string]string{"b": "2", "c": "3"}},
		}},
		{"an expired message makes room under the byte limit", 0, 10, []storeStep{
			{topic: "a", payload: "1234", expires: expired}, // 5 bytes
			{topic: "b", payload: "1234"},
			{topic: "c", payload: "1234"},
			{want: map[string]string{"b": "1234", "c": "1234"}},
		}},
		{"a message that expires later counts", 1, 0, []storeStep{
			{topic: "a", payload: "1", expires: later},
			{topic: "b", payload: "2", err: "broker: retained store limit reached: 1 messages"},
			{topic: "a", payload: "1b", expires: expired}, // replaced by one already expired
			{topic: "b", payload: "2"},
			{want: map[string]string{"b": "2"}},
		}},
		{"deleting an expired message", 1, 0, []storeStep{
			{topic: "a", payload: "1", expires: expired},
			{topic: "a"},
			{want: map[string]string{}},
			{topic: "b", payload: "2"},
			{want: map[string]string{"b": "2"}},
		}},
		{"limits count what a reopened store holds, expired records excepted", 2, 0, []storeStep{
			{topic: "a", payload: "1"},
			{topic: "b", payload: "2", expires: expired},
			{topic: "c", payload: "3", expires: later},
			{reopen: true, want: map[string]string{"a": "1", "c": "3"}},
			{topic: "d", payload: "4", err: "broker: retained store limit reached: 2 messages"},
			{topic: "a"},
			{topic: "d", payload: "4"},
			{reopen: true, want: map[string]string{"c": "3", "d": "4"}},
		}},
	}
	for _, c := range cases {
		stores := map[string]func(t *testing.T) (s broker.RetainedStore, reopen func() broker.RetainedStore){
			"memory": func(*testing.T) (broker.RetainedStore, func() broker.RetainedStore) {
				s := broker.NewMemoryStore(c.maxMessages, c.maxBytes)
				return s, func() broker.RetainedStore { return s }
			},
			"bolt": func(t *testing.T) (broker.RetainedStore, func() broker.RetainedStore) {
				path, opts := dbPath(t), Options{MaxMessages: c.maxMessages, MaxBytes: c.maxBytes}
				s := openStore(t, path, opts)
				return s, func() broker.RetainedStore {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					s = openStore(t, path, opts)
					return s
				}
			},
		}
		for name, open := range stores {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				s, reopen := open(t)
				for i, st := range c.steps {
					if st.reopen {
						s = reopen()
					}
					if st.topic != "" {
						checkSet(t, s, i, st)
					}
					if st.want != nil {
						wantMatch(t, s, ">", st.want)
						if n := s.Len(); n != len(st.want) {
							t.Fatalf("step %d: Len %d, want %d", i, n, len(st.want))
						}
					}
				}
			})
		}
	}
}

// checkSet makes a step's Set and compares its error with the step's.
func checkSet(t *testing.T, s broker.RetainedStore, i int, st storeStep) {
	t.Helper()
	m := broker.RetainedMessage{Topic: st.topic, Payload: []byte(st.payload)}
	if st.header != "" {
		m.Header = []byte(st.header)
	}
	if st.expires != 0 {
		m.Expires = time.Now().Add(st.expires)
	}
	err := setMsg(t, s, m)
	got := ""
	if err != nil {
		got = err.Error()
	}
	if got != st.err || (err != nil && !errors.Is(err, broker.ErrRetainedLimit)) {
		t.Fatalf("step %d: Set(%q) = %v, want %q", i, st.topic, err, st.err)
	}
}

// A replay does not hold the store's lock while it delivers: a retained
// publish made from inside the callback (as a publisher racing a slow
// subscriber's replay would) completes instead of waiting for the replay.
func TestMatchDoesNotBlockSet(t *testing.T) {
	stores := map[string]broker.RetainedStore{
		"memory": broker.NewMemoryStore(0, 0),
		"bolt":   openStore(t, t.TempDir()+"/r.db", Options{}),
	}
	for name, st := range stores {
		t.Run(name, func(t *testing.T) {
			for _, topic := range []string{"r.a", "r.b"} {
				if err := st.Set(broker.RetainedMessage{Topic: topic, Payload: []byte("x")}, nil); err != nil {
					t.Fatal(err)
				}
			}
			setDone := make(chan error, 1)
			err := st.Match("r.>", func(broker.RetainedMessage) bool {
				go func() {
					setDone <- st.Set(broker.RetainedMessage{Topic: "r.c", Payload: []byte("y")}, nil)
				}()
				select {
				case err := <-setDone:
					if err != nil {
						t.Error(err)
					}
				case <-time.After(5 * time.Second):
					t.Error("Set waited for the replay in progress")
				}
				return false
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

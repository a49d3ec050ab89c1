package mqtt

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The table of docs/mqtt.md: each MQTT topic, its native topic, and back.
func TestTopicMappingRoundTrips(t *testing.T) {
	for _, c := range []struct{ mqtt, native string }{
		{"a/b/c", "a.b.c"},
		{"sensors/kitchen/temp", "sensors.kitchen.temp"},
		{"$SYS/broker/uptime", "$SYS.broker.uptime"},
		{"/leading", "%.leading"},
		{"trailing/", "trailing.%"},
		{"a//b", "a.%.b"},
		{"/", "%.%"},
		{"v1.2/x", "v1%2E2.x"},
		{"100%", "100%25"},
		{"with space", "with%20space"},
		{"a*b/>", "a%2Ab.%3E"},
		{"*", "%2A"},
		{"café/ü", "café.ü"},
		{"nbsp\u00a0x", "nbsp%C2%A0x"},
		{"tab\tx", "tab%09x"},
	} {
		got, _, err := ToNative([]byte(c.mqtt), nil)
		if err != nil || got != c.native {
			t.Errorf("ToNative(%q) = %q, %v; want %q", c.mqtt, got, err, c.native)
			continue
		}
		back, err := FromNative(nil, c.native)
		if err != nil || string(back) != c.mqtt {
			t.Errorf("FromNative(%q) = %q, %v; want %q", c.native, back, err, c.mqtt)
		}
	}
}

// Native topics without an MQTT form that maps back to them are refused.
func TestFromNativeRefusesWhatHasNoMQTTForm(t *testing.T) {
	for _, native := range []string{"a/b", "a.+", "x.#", "50%", "a%41", "a%2e", "a%00", "a%2F", "%FF", "a%"} {
		if got, err := FromNative(nil, native); !errors.Is(err, ErrUnmappable) {
			t.Errorf("FromNative(%q) = %q, %v; want ErrUnmappable", native, got, err)
		}
	}
}

func TestToNativeRefusesWhatExceedsNativeLimits(t *testing.T) {
	deep := "a"
	for range 32 {
		deep += "/a"
	}
	long := make([]byte, 1100)
	for i := range long {
		long[i] = 'x'
	}
	for _, m := range []string{deep, string(long)} {
		if _, _, err := ToNative([]byte(m), nil); !errors.Is(err, ErrUnmappable) {
			t.Errorf("ToNative(%.20q...) = %v; want ErrUnmappable", m, err)
		}
	}
}

func TestFilterMapping(t *testing.T) {
	for _, c := range []struct {
		mqtt   string
		native []string
		queue  string
	}{
		{"a/b", []string{"a.b"}, ""},
		{"sport/+/player1", []string{"sport.*.player1"}, ""},
		{"a/#", []string{"a.>", "a"}, ""},
		{"#", []string{">"}, ""},
		{"+", []string{"*"}, ""},
		{"+/#", []string{"*.>", "*"}, ""},
		{"/#", []string{"%.>", "%"}, ""},
		{"$SYS/#", []string{"$SYS.>", "$SYS"}, ""},
		{"$share/workers/jobs/+", []string{"jobs.*"}, "workers"},
		{"$share/g 1/a/#", []string{"a.>", "a"}, "g%201"},
	} {
		f, err := FilterToNative(c.mqtt)
		if err != nil || !slices.Equal(f.Native, c.native) || f.Queue != c.queue {
			t.Errorf("FilterToNative(%q) = %+v, %v; want %v queue %q", c.mqtt, f, err, c.native, c.queue)
		}
	}
	if _, err := FilterToNative("$share/g"); !errors.Is(err, ErrUnmappable) {
		t.Errorf("bad shared filter: %v", err)
	}
}

func FuzzTopicMapping(f *testing.F) {
	for _, s := range []string{"a/b", "/", "a//b", "100%", "v1.2", "x y", "$SYS/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		// What the packet reader lets through as a topic name.
		if m == "" || strings.ContainsAny(m, "+#\x00") || !utf8.ValidString(m) {
			return
		}
		native, _, err := ToNative([]byte(m), nil)
		if err != nil {
			return
		}
		back, err := FromNative(nil, native)
		if err != nil || string(back) != m {
			t.Fatalf("%q -> %q -> %q, %v", m, native, back, err)
		}
	})
}

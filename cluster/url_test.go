package cluster

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, u := range []string{
		"redis://127.0.0.1:6379/0",
		"rediss://user:pw@db.example:6380/2?dial_timeout=3s",
		"unix:///run/redis.sock?db=1",
		"redis://sentinel:26379/0?master_name=mymaster&addr=s2:26379&password=pw",
	} {
		newClient, err := ParseURL(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		c := newClient()
		// go-redis turns the -1 we set into 0 (none); unset would be 3.
		if c.Options().MaxRetries != 0 {
			t.Errorf("%s: the client retries (%d)", u, c.Options().MaxRetries)
		}
		c.Close()
	}
	for u, want := range map[string]string{
		"http://x":                                          "scheme",
		"redis://x?max_retries=2":                           "never retries",
		"unix:///s.sock?master_name=m":                      "sentinels",
		"redis://u:hunter2@x:notaport":                      "invalid port",
		"redis://s:1?master_name=m&password=hunter2&nope=1": "unexpected option",
	} {
		_, err := ParseURL(u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", u, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", u, err)
		}
	}
	if got := RedactURL("rediss://u:hunter2@h:1/0?password=hunter3&x=1"); strings.Contains(got, "hunter") {
		t.Fatalf("RedactURL kept a password: %s", got)
	}
}

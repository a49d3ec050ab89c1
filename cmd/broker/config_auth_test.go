package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestSecurityConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"auth:\n  users:\n    - user: bob\n", "auth.users[0].password: must be set"},
		{"auth:\n  users:\n    - { user: a, password: x }\n    - { user: a, password: y }\n", `auth.users[1].user: "a" is used twice`},
		{"auth:\n  users:\n    - { user: a, password: \"$2a$10$nope\" }\n", "auth.users[0].password: looks like a bcrypt hash"},
		{"auth:\n  default_permissions:\n    publish: { allow: [\"a.>.b\"] }\n", "auth.default_permissions.publish.allow[0]"},
		{"auth:\n  default_permissions:\n    publish: { allow: [\"a q\"] }\n", "auth.default_permissions.publish.allow[0]"},
		{"auth:\n  default_permissions:\n    subscribe: { deny: [\"a q r\"] }\n", "auth.default_permissions.subscribe.deny[0]"},
		{"auth:\n  default_permissions:\n    allow_responses: maybe\n", "allow_responses must be true, false or {max, expires}"},
		{"auth:\n  default_permissions:\n    allow_responses: { max: -1 }\n", "allow_responses.max"},
		{"auth:\n  default_permissions:\n    publish: { allowed: [a] }\n", "allowed"},
		{"tcp:\n  tls:\n    client_ca_file: ca.pem\n", "tcp.tls.client_ca_file: needs cert_file"},
		{"ws:\n  tls:\n    verify: true\n", "ws.tls.verify: needs client_ca_file"},
		{"quic:\n  tls:\n    map_identity: true\n", "quic.tls.map_identity: needs client_ca_file"},
	} {
		_, _, err := loadConfig([]string{"--config", writeConfig(t, tc.body)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error mentioning %q", tc.body, err, tc.want)
		}
	}
	// A user without a password is fine when a listener maps certificates.
	ok := "quic:\n  tls:\n    client_ca_file: ca.pem\n    map_identity: true\nauth:\n  users:\n    - user: device-1\n"
	if _, _, err := loadConfig([]string{"--config", writeConfig(t, ok)}, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestFixedChangesNamesKeys(t *testing.T) {
	old := defaultConfig()
	old.TCP.TLS.CertFile, old.TCP.TLS.KeyFile = "a.pem", "a-key.pem"
	n := old
	n.Auth.Token = "new"
	n.Log.Level = "debug"
	n.TCP.TLS.CertFile, n.TCP.TLS.KeyFile, n.TCP.TLS.Verify = "b.pem", "b-key.pem", true
	if keys := fixedChanges(old, n); len(keys) > 0 {
		t.Fatalf("reloadable changes named as fixed: %v", keys)
	}
	n.Limits.MaxPayload++
	n.WS.Listen = "127.0.0.1:1"
	n.QUIC.TLS.ClientCAFile = "ca.pem"
	n.TCP.TLS.CertFile = ""
	want := []string{"limits.max_payload", "tcp.tls.cert_file", "ws.listen", "quic.tls.client_ca_file"}
	got := fixedChanges(old, n)
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("fixed changes %v, want %v", got, want)
	}
}

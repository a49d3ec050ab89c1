package auth

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func permsFrom(t *testing.T, doc string) *sessionPerms {
	t.Helper()
	var p Permissions
	if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if errs := p.validate("p"); len(errs) > 0 {
		t.Fatal(errs)
	}
	sp := &sessionPerms{}
	sp.res.Store(&resolved{set: compile(&p)})
	return sp
}

func TestPublishRules(t *testing.T) {
	p := permsFrom(t, `
publish: { allow: ["orders.>", "status.*.ok", "exact"], deny: ["orders.secret.>", "*.*.forbidden"] }
`)
	for topic, want := range map[string]bool{
		"orders.eu":               true,
		"orders.eu.created":       true,
		"orders":                  false, // ">" needs one more token
		"orders.secret.x":         false, // deny wins
		"orders.secret":           true,  // deny "orders.secret.>" needs a token after it
		"orders.x.forbidden":      false,
		"status.a.ok":             true,
		"status.a.b.ok":           false,
		"exact":                   true,
		"exact.more":              false,
		"other":                   false,
		"$SYS.conn.opened":        false,
		"orders.eu.created.again": true,
	} {
		for range 2 { // the second answer comes from the cache
			if got := p.MayPublish([]byte(topic)); got != want {
				t.Errorf("MayPublish(%q) = %v, want %v", topic, got, want)
			}
		}
	}
}

func TestNoAllowListAllowsAllButDenied(t *testing.T) {
	p := permsFrom(t, `publish: { deny: [">"] }
subscribe: { deny: ["secret.>"] }`)
	if p.MayPublish([]byte("a")) || p.MayPublish([]byte("$SYS.x")) {
		t.Error(`deny ">" left a topic allowed`)
	}
	for filter, want := range map[string][2]bool{
		"a.b":        {true, false},
		">":          {true, true}, // overlaps the deny rule: each message is checked
		"secret.>":   {false, false},
		"secret.x":   {false, false},
		"*.x":        {true, true},
		"$SYS.>":     {true, false},
		"public.*.y": {true, false},
	} {
		ok, filtered := p.MaySubscribe(filter, "")
		if ok != want[0] || filtered != want[1] {
			t.Errorf("MaySubscribe(%q) = %v, %v; want %v, %v", filter, ok, filtered, want[0], want[1])
		}
	}
	if p.MayReceive([]byte("secret.x")) || !p.MayReceive([]byte("public.x")) {
		t.Error("MayReceive does not apply the subscribe deny rules")
	}
}

func TestSubscribeAllowAndQueues(t *testing.T) {
	p := permsFrom(t, `subscribe:
  allow: ["updates.>", "_INBOX.>", "work.* workers", "jobs.> team.*"]
  deny: ["updates.admin.>", "jobs.secret.> team.b"]`)
	cases := []struct {
		filter, queue string
		ok, filtered  bool
	}{
		{"updates.x", "", true, false},
		{"updates.>", "", true, true},
		{"updates.admin.x", "", false, false},
		{">", "", false, false}, // not within an allow rule
		{"_INBOX.abc.*", "", true, false},
		{"work.a", "", false, false}, // the rule is for queue group workers only
		{"work.a", "workers", true, false},
		{"work.a", "others", false, false},
		{"updates.x", "anyqueue", true, false}, // a rule without a group allows every group
		{"jobs.x", "team.a", true, false},
		{"jobs.>", "team.b", false, false}, // overlaps the group's deny rule
		{"jobs.>", "team.a", true, false},
		{"jobs.x", "team", false, false},
	}
	for _, c := range cases {
		ok, filtered := p.MaySubscribe(c.filter, c.queue)
		if ok != c.ok || filtered != c.filtered {
			t.Errorf("MaySubscribe(%q, %q) = %v, %v; want %v, %v", c.filter, c.queue, ok, filtered, c.ok, c.filtered)
		}
	}
}

func TestAllowRulesDoNotCoverSystemTopics(t *testing.T) {
	p := permsFrom(t, `publish: [">"]
subscribe: { allow: [">", "$SYS.conn.>"] }`)
	if p.MayPublish([]byte("$SYS.conn.opened")) {
		t.Error(`allow ">" allowed a publish to a system topic`)
	}
	if ok, _ := p.MaySubscribe("$SYS.>", ""); ok {
		t.Error(`allow ">" allowed a subscription to $SYS.>`)
	}
	if ok, _ := p.MaySubscribe("$SYS.conn.*", ""); !ok {
		t.Error(`allow "$SYS.conn.>" refused $SYS.conn.*`)
	}
}

func TestEmptyAllowListAllowsNothing(t *testing.T) {
	p := permsFrom(t, `publish: []
subscribe: { allow: [] }
allow_responses: true`)
	if p.MayPublish([]byte("a")) {
		t.Error("publish: [] allowed a publish")
	}
	if ok, _ := p.MaySubscribe("a", ""); ok {
		t.Error("subscribe allow: [] allowed a subscription")
	}
	p.Received([]byte("_INBOX.x.1"))
	if !p.MayPublish([]byte("_INBOX.x.1")) {
		t.Error("a responder with publish: [] may not answer")
	}
}

func TestAllowResponsesBoundedInCountAndTime(t *testing.T) {
	p := permsFrom(t, `publish: { allow: ["req.>"], deny: ["_INBOX.denied.>"] }
allow_responses: { max: 2, expires: 50ms }`)
	reply := []byte("_INBOX.abc.1")
	if p.MayPublish(reply) {
		t.Fatal("reply allowed before any request")
	}
	p.Received(reply)
	if !p.MayPublish(reply) || !p.MayPublish(reply) {
		t.Fatal("the two allowed replies were refused")
	}
	if p.MayPublish(reply) {
		t.Fatal("a third reply was allowed with max 2")
	}
	p.Received(reply)
	time.Sleep(80 * time.Millisecond)
	if p.MayPublish(reply) {
		t.Fatal("a reply was allowed after expires")
	}
	denied := []byte("_INBOX.denied.1")
	p.Received(denied)
	if p.MayPublish(denied) {
		t.Fatal("allow_responses overrode a deny rule")
	}
}

func TestRepliesTableIsBounded(t *testing.T) {
	var r replies
	lim := Responses{Max: 1, Expires: time.Hour}
	now := time.Now()
	for i := range 10 * maxReplies {
		topic := []byte("_INBOX." + string(rune('a'+i%26)) + "." + itoa(i))
		r.add(topic, lim, now)
		if i%2 == 0 {
			r.use(topic, now)
		}
	}
	if len(r.m) > maxReplies || len(r.order) > 2*maxReplies+1 {
		t.Fatalf("table holds %d entries and %d keys in order, bounds %d", len(r.m), len(r.order), maxReplies)
	}
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

func TestResponsesYAML(t *testing.T) {
	for doc, want := range map[string]Responses{
		"allow_responses: true":                  {DefaultResponsesMax, DefaultResponsesExpires},
		"allow_responses: false":                 {0, DefaultResponsesExpires},
		"allow_responses: {max: 3}":              {3, DefaultResponsesExpires},
		"allow_responses: {max: 2, expires: 5s}": {2, 5 * time.Second},
	} {
		var p Permissions
		if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatal(doc, err)
		}
		if *p.AllowResponses != want {
			t.Errorf("%s: %+v, want %+v", doc, *p.AllowResponses, want)
		}
	}
}

func TestValidateNamesKeys(t *testing.T) {
	cfg := Config{
		Users: []User{
			{User: "a", Password: "$2a$10$short"},
			{User: "a"},
			{User: "b", Permissions: &Permissions{Publish: Rules{Allow: []string{"a.>.b", "x q"}}}},
		},
		DefaultPermissions: &Permissions{Subscribe: Rules{Deny: []string{"a b c"}}, AllowResponses: &Responses{Max: 1}},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"auth.users[0].password", "auth.users[1].user: \"a\" is used twice",
		"auth.users[2].permissions.publish.allow[0]", "auth.users[2].permissions.publish.allow[1]",
		"auth.default_permissions.subscribe.deny[0]", "auth.default_permissions.allow_responses.expires",
	} {
		if !contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

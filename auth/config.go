package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/msgtrans/msgtrans/topics"
)

// Config is the auth section of the broker's configuration, NATS-like:
// users with passwords (bcrypt hashes or plain text) and permissions, a
// shared token, and the permissions of everyone without their own.
type Config struct {
	// Token, when set, lets a client in that presents it; it acts with
	// DefaultPermissions.
	Token string `yaml:"token"`
	Users []User `yaml:"users"`
	// DefaultPermissions apply to users without permissions of their own,
	// to token clients and to anonymous clients. Nil allows everything.
	DefaultPermissions *Permissions `yaml:"default_permissions"`
}

// User is one configured user.
type User struct {
	User string `yaml:"user"`
	// Password is a bcrypt hash ($2a$, $2b$, $2y$) or plain text. Empty:
	// the user can only be reached through a client certificate
	// (tls.map_identity).
	Password    string       `yaml:"password"`
	Permissions *Permissions `yaml:"permissions"`
}

// Permissions are what a user may publish and subscribe to.
type Permissions struct {
	Publish   Rules `yaml:"publish"`
	Subscribe Rules `yaml:"subscribe"`
	// AllowResponses lets the user publish to the reply topic of a message
	// it received, without a publish permission for it.
	AllowResponses *Responses `yaml:"allow_responses"`
}

// Rules are an allow and a deny list of filters in topic syntax. Deny wins;
// no allow list allows everything not denied, while an empty one ("allow:
// []") allows nothing. A subscribe rule may
// name a queue group after the filter ("work.> workers"): it then applies
// to queue subscriptions in a matching group only.
type Rules struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// UnmarshalYAML accepts a plain list as the allow list, as NATS does.
func (r *Rules) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		return n.Decode(&r.Allow)
	}
	if err := knownKeys(n, "allow", "deny"); err != nil {
		return err
	}
	type plain Rules
	return n.Decode((*plain)(r))
}

// knownKeys refuses a mapping key not in known: Node.Decode, which a
// custom unmarshaler must use, does not keep the decoder's KnownFields.
func knownKeys(n *yaml.Node, known ...string) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			return fmt.Errorf("line %d: field %s not found (want one of %s)", k.Line, k.Value, strings.Join(known, ", "))
		}
	}
	return nil
}

// Responses bound what AllowResponses permits: each reply topic received
// may be published to Max times within Expires of receiving it.
type Responses struct {
	Max     int           `yaml:"max"`
	Expires time.Duration `yaml:"expires"`
}

// Defaults of allow_responses: true.
const (
	DefaultResponsesMax     = 1
	DefaultResponsesExpires = time.Minute
)

// UnmarshalYAML accepts true (the defaults), false (off) or a mapping.
func (r *Responses) UnmarshalYAML(n *yaml.Node) error {
	*r = Responses{Max: DefaultResponsesMax, Expires: DefaultResponsesExpires}
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return fmt.Errorf("line %d: allow_responses must be true, false or {max, expires}", n.Line)
		}
		if !on {
			r.Max = 0
		}
		return nil
	}
	if err := knownKeys(n, "max", "expires"); err != nil {
		return err
	}
	type plain Responses
	return n.Decode((*plain)(r))
}

// Validate checks the section; errors name the key below "auth.".
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("auth.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case u.User == "":
			bad(key+".user", "must be set")
		case seen[u.User]:
			bad(key+".user", "%q is used twice", u.User)
		}
		seen[u.User] = true
		if isHash(u.Password) {
			if _, err := bcrypt.Cost([]byte(u.Password)); err != nil {
				bad(key+".password", "looks like a bcrypt hash but is not one (%v); make one with msgtrans passwd", err)
			}
		}
		errs = append(errs, u.Permissions.validate(key+".permissions")...)
	}
	errs = append(errs, c.DefaultPermissions.validate("default_permissions")...)
	return errors.Join(errs...)
}

func (p *Permissions) validate(key string) []error {
	if p == nil {
		return nil
	}
	var errs []error
	check := func(list []string, k string, queue bool) {
		for i, s := range list {
			f := strings.Fields(s)
			switch {
			case len(f) == 0:
				errs = append(errs, fmt.Errorf("auth.%s[%d]: empty rule", k, i))
				continue
			case len(f) > 2 || len(f) == 2 && !queue:
				what := "a filter"
				if queue {
					what = "a filter and optionally a queue group"
				}
				errs = append(errs, fmt.Errorf("auth.%s[%d]: %q must be %s", k, i, s, what))
				continue
			}
			if err := topics.ValidateFilter(f[0]); err != nil {
				errs = append(errs, fmt.Errorf("auth.%s[%d]: %w", k, i, err))
			}
		}
	}
	check(p.Publish.Allow, key+".publish.allow", false)
	check(p.Publish.Deny, key+".publish.deny", false)
	check(p.Subscribe.Allow, key+".subscribe.allow", true)
	check(p.Subscribe.Deny, key+".subscribe.deny", true)
	if r := p.AllowResponses; r != nil {
		if r.Max < 0 {
			errs = append(errs, fmt.Errorf("auth.%s.allow_responses.max: must not be negative", key))
		}
		if r.Max > 0 && r.Expires <= 0 {
			errs = append(errs, fmt.Errorf("auth.%s.allow_responses.expires: must be a positive duration", key))
		}
	}
	return errs
}

func isHash(pw string) bool {
	return strings.HasPrefix(pw, "$2a$") || strings.HasPrefix(pw, "$2b$") || strings.HasPrefix(pw, "$2y$")
}

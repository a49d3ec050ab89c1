package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseURL checks a cluster URL and returns how to make its client:
//
//	redis://[user:password@]host:port[/db][?options]    one Redis server
//	rediss://...                                         the same over TLS
//	unix:///path/redis.sock[?db=N]                       a local socket
//	redis://[s-user:s-password@]sentinel:26379[/db]?master_name=NAME[&addr=sentinel2:26379...][&username=U&password=P]
//	                                                     the primary that Redis Sentinel names
//
// The options are go-redis's (dial_timeout, pool_size, skip_verify, ...).
// The client never retries a command itself (the backplane counts a failed
// batch and reconnects; a retried PUBLISH could deliver a batch twice), so
// max_retries is refused. Redis Cluster is not supported. Errors never
// show a password.
func ParseURL(u string) (newClient func() *redis.Client, err error) {
	scheme, _, _ := strings.Cut(u, "://")
	switch scheme {
	case "redis", "rediss", "unix":
	default:
		return nil, fmt.Errorf("%q: the scheme must be redis://, rediss:// (TLS) or unix:// (Redis Cluster is not supported)", RedactURL(u))
	}
	fail := func(err error) (func() *redis.Client, error) {
		msg := strings.ReplaceAll(err.Error(), u, RedactURL(u))
		for _, s := range secrets(u) {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
		return nil, fmt.Errorf("%q: %s", RedactURL(u), msg)
	}
	pu, err := url.Parse(u)
	if err != nil {
		return fail(err)
	}
	if pu.Query().Has("max_retries") {
		return fail(errors.New("max_retries cannot be set: the cluster never retries a command"))
	}
	if pu.Query().Has("master_name") {
		if scheme == "unix" {
			return fail(errors.New("sentinels are reached over redis:// or rediss://"))
		}
		opt, err := redis.ParseFailoverURL(u)
		if err != nil {
			return fail(err)
		}
		opt.MaxRetries = -1
		return func() *redis.Client { return redis.NewFailoverClient(opt) }, nil
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		return fail(err)
	}
	opt.MaxRetries = -1
	return func() *redis.Client { return redis.NewClient(opt) }, nil
}

// secrets are the passwords a URL carries, in its user info or its query.
func secrets(u string) []string {
	var out []string
	rest := u
	if _, r, ok := strings.Cut(u, "://"); ok {
		rest = r
	}
	hostPart, query, _ := strings.Cut(rest, "?")
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(hostPart[:at], ":"); ok && pw != "" {
			out = append(out, pw)
		}
	}
	for kv := range strings.SplitSeq(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" && strings.Contains(strings.ToLower(k), "password") {
			out = append(out, v)
		}
	}
	return out
}

// RedactURL returns u with its passwords replaced by xxxxx, to log it.
func RedactURL(u string) string {
	for _, s := range secrets(u) {
		u = strings.ReplaceAll(u, s, "xxxxx")
	}
	return u
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/msgtrans/msgtrans/wire"
)

// noResponders: requests to topics nobody subscribes to, each with a
// reply-to the requester listens on, so the broker answers every one with
// a no-responders status.
func noResponders(ctx context.Context, e *env) string {
	const rate = 20000
	rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "requester"})
	if err != nil {
		return "requester: " + err.Error()
	}
	defer rc.Close()
	go rc.drain()
	rc.Write(wire.AppendSub(nil, 1, "_INBOX.storm.>", ""))
	var b []byte
	next := pace(rate)
	n := 0
	for ; next(ctx); n++ {
		id := strconv.Itoa(n)
		b = wire.AppendPub(b[:0], "nobody."+id, "_INBOX.storm."+id, nil, []byte("?"), false, 0)
		if _, err := rc.Write(b); err != nil {
			break
		}
	}
	sleepCtx(context.Background(), 500*time.Millisecond) // the last answers
	return fmt.Sprintf("%d requests without responders, %d answers read", n, e.cnt.recv.Load())
}

// The failed-login attack's broker has one user, the pair's; everyone else
// is refused.
const pairUser, pairPassword = "pair", "correct horse battery staple"

// authConfig is the broker configuration of the failed-login attack: the
// pair's user with a bcrypt hash of the default cost, as an operator would
// configure it with `msgtrans passwd`.
func authConfig() (string, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(pairPassword), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("auth:\n  users:\n    - user: %s\n      password: %q\n", pairUser, hash), nil
}

// failedLogins: 16 clients guessing the pair user's password as fast as
// the broker answers.
func failedLogins(ctx context.Context, e *env) string {
	var throttled atomic.Int64
	fleet(ctx, 16, func(ctx context.Context, i int) {
		for n := 0; ctx.Err() == nil; n++ {
			e.cnt.sent.Add(1)
			rc, err := dialRaw(ctx, e.b.tcp, &e.cnt, &wire.Hello{Name: "guesser", User: pairUser, Pass: "guess" + strconv.Itoa(n)})
			switch {
			case err == nil:
				rc.Close()
				e.cnt.code(wire.CodeOK) // a wrong password accepted: shows in the note
			case strings.Contains(err.Error(), "too many failed logins"):
				throttled.Add(1) // refused without a bcrypt comparison
			}
		}
	})
	return fmt.Sprintf("%d wrong passwords tried, %d of them refused unchecked as too many:%s",
		e.cnt.sent.Load(), throttled.Load(), e.cnt.codeSummary())
}

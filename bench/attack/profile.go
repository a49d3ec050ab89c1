package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profileFor is how long --pprof profiles each broker, from its attack's
// start: the set-up bursts are what stall the pair.
var profileFor time.Duration

// profile fetches, when dir is set, the broker's CPU profile and execution
// trace over the attack's first profileFor into dir/<attack>.cpu and
// dir/<attack>.trace (go tool pprof, go tool trace). The channel gets the
// outcome once both are written.
func profile(b *brokerProc, dir, name string) <-chan error {
	done := make(chan error, 1)
	if dir == "" {
		done <- nil
		return done
	}
	secs := max(1, int(profileFor.Seconds()))
	fetch := func(path, file string) error {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", b.http, path, secs))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		_, err = io.Copy(f, resp.Body)
		return errors.Join(err, f.Close())
	}
	errs := make(chan error, 2)
	go func() { errs <- fetch("profile", name+".cpu") }()
	go func() { errs <- fetch("trace", name+".trace") }()
	go func() { done <- errors.Join(<-errs, <-errs) }()
	return done
}

package boltstore

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/broker"
)

const crashEnv = "BOLTSTORE_CRASH_CHILD_PATH"

// crashPayload is what the child stores under topic: big enough that
// commits span several pages.
func crashPayload(topic string) []byte {
	return bytes.Repeat([]byte(topic+";"), 40)
}

// TestHelperProcess is the child of TestCrashDurability: it stores messages
// from many goroutines and prints each topic once its done(nil) has run,
// until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as the child of TestCrashDurability")
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var out sync.Mutex
	for g := range 16 {
		go func() {
			ch := make(chan error, 1)
			for i := 0; ; i++ {
				topic := fmt.Sprintf("crash.%d.%d", g, i)
				err := s.Set(broker.RetainedMessage{Topic: topic, Payload: crashPayload(topic)}, func(err error) {
					if err == nil {
						out.Lock()
						os.Stdout.WriteString(topic + "\n") // one write: no torn lines
						out.Unlock()
					}
					ch <- err
				})
				if err == nil {
					err = <-ch
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
			}
		}()
	}
	select {} // until killed
}

// TestCrashDurability kills a process that is storing messages, with
// SIGKILL, and checks that every message it had acknowledged is in the file.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := dbPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		acked = append(acked, sc.Text())
		if len(acked) == 500 && !killed {
			cmd.Process.Kill() // SIGKILL, mid-stream; the lines already written are still read
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acks; stderr: %s", len(acked), stderr.String())
	}
	t.Logf("child acknowledged %d messages before it died", len(acked))

	s := openStore(t, path, Options{})
	got := map[string][]byte{}
	s.Match(">", func(m broker.RetainedMessage) bool {
		got[m.Topic] = bytes.Clone(m.Payload)
		return true
	})
	for _, topic := range acked {
		if !strings.HasPrefix(topic, "crash.") {
			t.Fatalf("unexpected child output %q", topic)
		}
		p, ok := got[topic]
		if !ok {
			t.Fatalf("acknowledged %q is not in the file (%d of %d acked are)", topic, len(got), len(acked))
		}
		if !bytes.Equal(p, crashPayload(topic)) {
			t.Fatalf("%q has payload %q", topic, p)
		}
	}
	// Whatever else is there was written whole.
	for topic, p := range got {
		if !bytes.Equal(p, crashPayload(topic)) {
			t.Fatalf("unacknowledged %q has payload %q", topic, p)
		}
	}
}

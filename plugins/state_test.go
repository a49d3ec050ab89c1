package plugins_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/plugins"
)

// events records what a runner reports, as the broker's system events do.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) PluginCrashed(name string, pid, restarts int, reason error) {
	e.add("crashed %s pid=%d restarts=%d %v", name, pid, restarts, reason)
}

func (e *events) PluginRestarted(name string, pid, restarts int) {
	e.add("restarted %s pid=%d restarts=%d", name, pid, restarts)
}

func (e *events) add(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, fmt.Sprintf(format, a...))
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

// What monitoring shows of a plugin follows it through a crash, its
// restart and its stop, and the crash and restart are reported as events.
func TestStateAndEventsThroughACrash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ev := &events{}
		e := start(t, be, plugins.Options{MinBackoff: time.Millisecond, Events: ev})
		st := e.r.State()
		if st.Name != "text" || st.State != plugins.StateRunning || st.Restarts != 0 || st.Linked != (be.name == "linked") ||
			(be.name == "process") != (st.PID != 0) || !strings.HasPrefix(st.Status, "listening on") {
			t.Fatalf("at start: %+v", st)
		}
		pid := st.PID
		be.crash(t, e)
		waitFor(t, func() bool { return len(ev.list()) == 2 })
		got := ev.list()
		if !strings.HasPrefix(got[0], fmt.Sprintf("crashed text pid=%d restarts=0 ", pid)) || !strings.Contains(got[0], be.died) {
			t.Fatalf("crash event %q", got[0])
		}
		st = e.r.State()
		if got[1] != fmt.Sprintf("restarted text pid=%d restarts=1", st.PID) || st.State != plugins.StateRunning ||
			st.Restarts != 1 || !strings.Contains(st.LastErr, be.died) || (pid != 0 && st.PID == pid) {
			t.Fatalf("restart event %q, state %+v", got[1], st)
		}
		e.stop()
		if st := e.r.State(); st.State != plugins.StateStopped || st.PID != 0 {
			t.Fatalf("after stop: %+v", st)
		}
	})
}

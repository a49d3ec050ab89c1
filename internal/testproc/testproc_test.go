package testproc

import (
	"net"
	"os"
	"testing"
	"time"
)

// The package's own test starts a real program: the test binary itself,
// as a tiny TCP server that prints a line and exits on SIGTERM.
func TestMain(m *testing.M) {
	if addr := os.Getenv("TESTPROC_LISTEN"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			os.Exit(3)
		}
		println("listening on", addr)
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(4)
			}
			c.Close()
		}
	}
	os.Exit(m.Run())
}

func TestStartWaitKill(t *testing.T) {
	addr := FreePort(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TESTPROC_LISTEN", addr)
	p := Start(t, self)
	p.WaitTCP(addr, 10*time.Second)
	line, i := p.WaitLine(0, 10*time.Second, "listening on", addr)
	if i != 0 || line == "" {
		t.Fatalf("line %d %q", i, line)
	}
	p.Kill()
	select {
	case <-p.Done():
	default:
		t.Fatal("Kill returned before the process exited")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("the killed process still accepts connections")
	}
}

func TestNeedFindsPrograms(t *testing.T) {
	if p := Need(t, "go"); p == "" {
		t.Fatal("no path for go")
	}
}

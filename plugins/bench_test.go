package plugins_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/plugins"
	"github.com/msgtrans/msgtrans/sdk"
)

// BenchmarkNativeToPlugin: an SDK client publishes 16-byte messages over
// TCP; a text client of the example plugin receives them as MSG lines.
func BenchmarkNativeToPlugin(b *testing.B) {
	e := startB(b)
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	fmt.Fprintf(c, "SUB bench.in\r\n")
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		b.Fatalf("SUB: %q", l)
	}
	pub, err := sdk.Connect(e.url)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	payload := []byte(strings.Repeat("x", 16))
	b.SetBytes(16)
	b.ResetTimer()
	// The publisher stays at most a window ahead of the text client: an
	// unbounded flood would (rightly) make the client a slow consumer.
	const window = 50000
	var read atomic.Int64
	go func() {
		for i := range b.N {
			for int64(i)-read.Load() > window {
				time.Sleep(50 * time.Microsecond)
			}
			pub.Publish("bench.in", payload)
		}
	}()
	for range b.N {
		if _, err := r.ReadSlice('\n'); err != nil {
			b.Fatal(err)
		}
		read.Add(1)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPluginToNative: a text client pipelines publishes; an SDK
// client receives the messages. A PUB is acknowledged by the broker before
// the plugin answers +OK, one line at a time; a SEND has no answer.
func BenchmarkPluginToNative(b *testing.B) {
	for _, cmd := range []string{"PUB", "SEND"} {
		b.Run("cmd="+cmd, func(b *testing.B) { benchPluginToNative(b, cmd) })
	}
}

func benchPluginToNative(b *testing.B, cmd string) {
	e := startB(b)
	sub, err := sdk.Connect(e.url, sdk.SubPendingLimits(1<<24, 1<<30))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var got atomic.Int64
	done := make(chan struct{})
	var want atomic.Int64
	want.Store(-1)
	sub.Subscribe("bench.out", func(*sdk.Msg) {
		if got.Add(1) == want.Load() {
			close(done)
		}
	})
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	go func() { // drain the answers
		r := bufio.NewReader(c)
		for {
			if _, err := r.ReadSlice('\n'); err != nil {
				return
			}
		}
	}()
	w := bufio.NewWriterSize(c, 64<<10)
	b.SetBytes(16)
	b.ResetTimer()
	want.Store(int64(b.N))
	line := cmd + " bench.out xxxxxxxxxxxxxxxx\r\n"
	for range b.N {
		w.WriteString(line)
	}
	w.Flush()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("received %d of %d\nplugin log:\n%s", got.Load(), b.N, e.logs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

type benchEnv struct {
	addr, url string
	logs      *testproc.Buffer
}

func startB(b *testing.B) benchEnv {
	e := startTB(b, backends()[0], plugins.Options{})
	return benchEnv{addr: e.pluginAddrTB(b), url: e.srv.URL, logs: e.logs}
}

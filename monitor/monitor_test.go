package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/msgtrans/msgtrans/broker"
	"github.com/msgtrans/msgtrans/broker/brokertest"
)

func newBroker(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// serve runs s on a loopback port until the test ends and returns its URL.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Serve(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return "http://" + s.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestNewRefusesBadOptions(t *testing.T) {
	b := newBroker(t)
	if _, err := New(b, Options{}); err == nil {
		t.Error("no address accepted")
	}
	if _, err := New(b, Options{Addr: "127.0.0.1:0", User: "u"}); err == nil {
		t.Error("a user without a password accepted")
	}
	s, _ := New(b, Options{Addr: "256.0.0.1:1"})
	if err := s.Listen(context.Background()); err == nil || !strings.Contains(err.Error(), "http.listen") {
		t.Errorf("a bad address: %v", err)
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	b := newBroker(t)
	for _, on := range []bool{false, true} {
		s, err := New(b, Options{Addr: "127.0.0.1:0", Pprof: on})
		if err != nil {
			t.Fatal(err)
		}
		code, body := get(t, serve(t, s)+"/debug/pprof/")
		if want := map[bool]int{false: 404, true: 200}[on]; code != want || (on && !strings.Contains(body, "goroutine")) {
			t.Errorf("pprof %v: %d", on, code)
		}
	}
}

func TestHealthChecks(t *testing.T) {
	var h Health
	var storeErr error
	h.Add("listener tcp", func() error { return nil })
	h.Add("retained store", func() error { return storeErr })
	s, err := New(newBroker(t), Options{Addr: "127.0.0.1:0", Health: &h})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, s)
	if code, body := get(t, url+"/healthz"); code != 200 || !strings.Contains(body, `"status": "ok"`) {
		t.Fatalf("healthy: %d %s", code, body)
	}
	storeErr = errors.New("disk full")
	code, body := get(t, url+"/healthz")
	var r healthResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 503 || r.Status != "unavailable" ||
		len(r.Down) != 1 || r.Down["retained store"] != "disk full" || r.Checks["listener tcp"] != "ok" {
		t.Fatalf("one check down: %d %s", code, body)
	}
}

// Idle times and rates come from samples; driven here with chosen times.
func TestSamplingIdleAndRates(t *testing.T) {
	b := newBroker(t)
	s, err := New(b, Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := brokertest.NewClient(b, "pub", false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	quiet, err := brokertest.NewClient(b, "quiet", false)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	t0 := time.Now()
	s.act.sample(t0)
	for range 10 {
		pub.Publish("a.b", []byte("12345"))
	}
	s.act.sample(t0.Add(2 * time.Second))
	if got := s.act.lastActive(pub.Session()); !got.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("publisher last active %v, want the second sample", got)
	}
	if got := s.act.lastActive(quiet.Session()); !got.Equal(quiet.Session().Info().Opened) {
		t.Errorf("quiet client last active %v, want when it opened", got)
	}
	rates := s.act.recentRates()
	if len(rates) != 1 || rates[0].MsgsIn != 5 || rates[0].BytesIn != 25 || rates[0].Connections != 2 {
		t.Fatalf("rates %+v", rates)
	}
	for i := range keepRates + 5 {
		s.act.sample(t0.Add(time.Duration(3+i) * time.Second))
	}
	rates = s.act.recentRates()
	if len(rates) != keepRates || !rates[len(rates)-1].Time.Equal(t0.Add(time.Duration(keepRates+7)*time.Second).UTC()) ||
		!rates[0].Time.Before(rates[1].Time) {
		t.Fatalf("after the ring wrapped: %d rates, last %v", len(rates), rates[len(rates)-1].Time)
	}
}

func TestClosedConnectionsKeepTheLatest(t *testing.T) {
	s, err := New(newBroker(t), Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= keepClosed+10; i++ {
		s.ObserveEvent(broker.Event{Kind: broker.SessionClosed, Time: time.Now(),
			Session: broker.SessionInfo{ID: uint64(i), Peer: broker.Peer{Protocol: "tcp"}},
			Reason:  fmt.Errorf("reason %d", i)})
	}
	s.ObserveEvent(broker.Event{Kind: broker.SessionOpened}) // not kept
	var cz Connz
	_, body := get(t, serve(t, s)+"/connz?state=closed&limit=10000")
	if err := json.Unmarshal([]byte(body), &cz); err != nil {
		t.Fatal(err)
	}
	if cz.Total != keepClosed || cz.Conns[0].ID != 11 || cz.Conns[keepClosed-1].ID != keepClosed+10 ||
		cz.Conns[0].Reason != "reason 11" {
		t.Fatalf("closed: total %d, first %+v", cz.Total, cz.Conns[0])
	}
}

func TestAckTimer(t *testing.T) {
	mem := broker.NewMemoryStore(0, 0)
	at := TimeAcks(mem)
	done := make(chan error, 1)
	if err := at.Set(broker.RetainedMessage{Topic: "a", Payload: []byte("xy")}, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	at.Set(broker.RetainedMessage{Topic: "b", Payload: []byte("z")}, nil) // no ack: not timed
	ch := make(chan prometheus.Metric, 1)
	at.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 1 {
		t.Fatalf("%d acks timed, want 1", n)
	}
	if at.Bytes() != 5 || at.Health() != nil || at.Len() != 2 {
		t.Fatalf("pass-through: bytes %d, health %v, len %d", at.Bytes(), at.Health(), at.Len())
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/msgtrans/msgtrans/internal/cdp"
	"github.com/msgtrans/msgtrans/internal/testproc"
	"github.com/msgtrans/msgtrans/sdk"
)

// dashboardState is what the test reads of the rendered dashboard.
type dashboardState struct {
	Health     string   `json:"health"`
	Conns      string   `json:"conns"`
	Points     int      `json:"points"`     // samples the rates chart has drawn
	InPixels   int      `json:"inPixels"`   // pixels of the rates chart in the "in" line's colour
	TopNames   []string `json:"topNames"`   // the names in "top connections"
	Protocols  []string `json:"protocols"`  // the protocol bars
	PluginRows []string `json:"pluginRows"` // the plugins table, one string per row
	SlowRows   []string `json:"slowRows"`   // the recent slow consumers table
	SlowAlarm  bool     `json:"slowAlarm"`  // the slow consumers tile is red
	Error      string   `json:"error"`      // the page's own "cannot reach" line, if shown
}

const readDashboard = `(() => {
  const c = document.getElementById("rates");
  const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let inPixels = 0;
  for (let i = 0; i < px.length; i += 4) {
    // #4fb3ff, the "in" line, allowing for anti-aliasing.
    if (Math.abs(px[i] - 0x4f) < 12 && Math.abs(px[i+1] - 0xb3) < 12 && Math.abs(px[i+2] - 0xff) < 12 && px[i+3] > 200) inPixels++;
  }
  const rows = (id) => [...document.getElementById(id).tBodies[0].rows];
  const err = document.getElementById("error");
  return {
    health: document.getElementById("health").textContent,
    conns: document.getElementById("t-conns").textContent,
    points: Number(c.dataset.points || 0),
    inPixels,
    topNames: rows("top").map((r) => r.cells[2] ? r.cells[2].textContent : ""),
    protocols: [...document.querySelectorAll("#protocols .bar .name")].map((e) => e.textContent),
    pluginRows: rows("plugins").map((r) => [...r.cells].map((c) => c.textContent).join(" ")),
    slowRows: rows("slow").map((r) => [...r.cells].map((c) => c.textContent).join(" ")),
    slowAlarm: document.getElementById("tile-slow").classList.contains("alarm"),
    error: err.hidden ? "" : err.textContent,
  };
})()`

// The dashboard in a real headless Chromium: it loads from the broker,
// draws the message-rate chart from live traffic, and lists a connection
// the test opened, with its protocol and the plugin's state. Set
// MSGTRANS_SCREENSHOT=file.png to keep a picture of it (docs/img).
func TestDashboardInChromium(t *testing.T) {
	chromium := testproc.Need(t, "chromium")
	cfg := writeConfig(t, smallPendingConfig+"plugins:\n  - name: text\n    builtin: text\n    settings:\n      listen: 127.0.0.1:0\n")
	p := startBroker(t, "--data-dir", t.TempDir(), "--config", cfg)
	base := httpURL(t, p)
	tcpURL, wsu := listenURL(t, p), wsURL(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := connectNamed(t, wsu, "orders-consumer")
	if _, err := sub.Subscribe("orders.>", func(*sdk.Msg) {}); err != nil {
		t.Fatal(err)
	}
	sub.Flush(ctx)
	for i := range 3 {
		connectNamed(t, tcpURL, fmt.Sprintf("idle-%d", i))
	}
	makeSlowConsumer(t, strings.TrimPrefix(tcpURL, "tcp://"), "laggard", "bulk.load", connectNamed(t, tcpURL, "bulk-loader"))
	pub := connectNamed(t, tcpURL, "dashboard-probe")
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range 1 + (n/150)%12 { // a rate that moves from second to second
				pub.Publish("orders.eu.created", []byte(`{"id":42,"total":"9.90"}`))
			}
		}
	}()
	defer func() { close(stop); <-published }()

	profile := t.TempDir()
	browser := testproc.Start(t, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--disable-sync", "--user-data-dir="+profile,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1400,900",
		base+"/")
	line, _ := browser.WaitLine(0, 30*time.Second, "DevTools listening on")
	addr, err := cdp.DevToolsAddr(line)
	if err != nil {
		t.Fatal(err)
	}
	page, err := cdp.OpenPage(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()

	var st dashboardState
	for {
		if err := page.Eval(ctx, readDashboard, &st); err != nil && !strings.Contains(err.Error(), "Cannot read") {
			t.Fatal(err)
		}
		if st.Points >= 4 && st.InPixels > 0 && contains(st.TopNames, "dashboard-probe") && len(st.PluginRows) == 2 && len(st.SlowRows) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the dashboard did not show the traffic: %+v", st)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if st.Health != "healthy" || st.Conns != "6" || st.Error != "" {
		t.Fatalf("dashboard: %+v", st)
	}
	if st.TopNames[0] != "bulk-loader" || !contains(st.TopNames, "orders-consumer") {
		t.Fatalf("top connections by traffic: %v", st.TopNames)
	}
	if !strings.Contains(st.SlowRows[0], "laggard") || !st.SlowAlarm {
		t.Fatalf("slow consumers: %v, alarm %v", st.SlowRows, st.SlowAlarm)
	}
	if !contains(st.Protocols, "tcp") || !contains(st.Protocols, "ws") {
		t.Fatalf("protocol bars %v", st.Protocols)
	}
	if !strings.HasPrefix(st.PluginRows[1], "text running") || !strings.HasPrefix(st.PluginRows[0], "mqtt running") {
		t.Fatalf("plugins table %v", st.PluginRows)
	}
	if out := os.Getenv("MSGTRANS_SCREENSHOT"); out != "" {
		time.Sleep(45 * time.Second) // most of a minute of chart
		png, err := page.Screenshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

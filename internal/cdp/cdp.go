// Package cdp is the smallest Chrome DevTools Protocol client the tests
// need to drive a real headless Chromium: connect to a page's WebSocket,
// call methods, read their results. Events are ignored.
package cdp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Page is a connection to one page target.
type Page struct {
	conn net.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan response
	err     error // set when the reader stops
	done    chan struct{}
}

type response struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// DevToolsAddr extracts host:port from Chromium's "DevTools listening on
// ws://..." line.
func DevToolsAddr(line string) (string, error) {
	_, after, ok := strings.Cut(line, "ws://")
	if !ok {
		return "", fmt.Errorf("cdp: no ws:// in %q", line)
	}
	addr, _, _ := strings.Cut(after, "/")
	return addr, nil
}

// OpenPage finds the first page target of the browser whose DevTools
// HTTP endpoint is at addr, and connects to it.
func OpenPage(ctx context.Context, addr string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/json/list", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cdp: list targets: %w", err)
	}
	defer resp.Body.Close()
	var targets []struct {
		Type, URL, WebSocketDebuggerURL string
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return nil, fmt.Errorf("cdp: list targets: %w", err)
	}
	for _, t := range targets {
		if t.Type == "page" && t.WebSocketDebuggerURL != "" {
			return Dial(ctx, t.WebSocketDebuggerURL)
		}
	}
	return nil, errors.New("cdp: the browser has no page")
}

// Dial connects to a target's WebSocket URL.
func Dial(ctx context.Context, url string) (*Page, error) {
	conn, _, _, err := ws.Dial(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("cdp: %w", err)
	}
	p := &Page{conn: conn, waiting: make(map[int64]chan response), done: make(chan struct{})}
	go p.read()
	return p, nil
}

func (p *Page) read() {
	var err error
	for {
		var data []byte
		data, err = wsutil.ReadServerText(p.conn)
		if err != nil {
			break
		}
		var r response
		if json.Unmarshal(data, &r) != nil || r.ID == 0 {
			continue // an event
		}
		p.mu.Lock()
		ch := p.waiting[r.ID]
		delete(p.waiting, r.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	close(p.done)
}

// Call invokes method with params and decodes its result into result
// (which may be nil).
func (p *Page) Call(ctx context.Context, method string, params, result any) error {
	ch := make(chan response, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return fmt.Errorf("cdp: connection closed: %w", p.err)
	}
	p.nextID++
	id := p.nextID
	p.waiting[id] = ch
	p.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	p.wmu.Lock()
	p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	err = wsutil.WriteClientText(p.conn, msg)
	p.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("cdp: %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("cdp: %s: %s (%d)", method, r.Error.Message, r.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	case <-p.done:
		return fmt.Errorf("cdp: %s: connection closed", method)
	case <-ctx.Done():
		return fmt.Errorf("cdp: %s: %w", method, ctx.Err())
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its
// value (by JSON) into result; a thrown exception is an error.
func (p *Page) Eval(ctx context.Context, expr string, result any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("cdp: evaluate: %s %s", e.Text, e.Exception.Description)
	}
	return json.Unmarshal(r.Result.Value, result)
}

// Screenshot returns a PNG of the page as it is rendered.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var r struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	if err := p.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Close closes the connection.
func (p *Page) Close() error {
	err := p.conn.Close()
	<-p.done
	return err
}

package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/msgtrans/msgtrans/auth"
)

// What a reload (SIGHUP) may change: the users and permissions (auth), the
// TLS certificates and client CAs of the listeners that have TLS, and
// log.level. Everything else is fixed once the broker runs; a reload that
// changes it is refused, naming the keys.

// levelWriter drops log events below a level that a reload can change:
// the loggers handed to every component are copies made at start, so the
// level cannot live in them.
type levelWriter struct {
	w     io.Writer
	level *atomic.Int32 // a zerolog.Level
}

func (lw levelWriter) Write(p []byte) (int, error) { return lw.w.Write(p) }

func (lw levelWriter) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l < zerolog.Level(lw.level.Load()) {
		return len(p), nil
	}
	return lw.w.Write(p)
}

// reloader holds what a reload needs besides the server: the arguments the
// configuration was loaded from, and the configuration in force.
type reloader struct {
	mu    sync.Mutex // one reload at a time
	args  []string
	cfg   Config
	level *atomic.Int32
	auth  *auth.Live
	tls   *tlsSet
}

// Reload reads the configuration again (the same file, the same flags on
// top) and applies it without closing a connection: new users and
// permissions for new logins and for every open session (subscriptions no
// longer allowed are revoked with an error to their client; sessions whose
// user was removed are closed), new certificates for new TLS handshakes,
// and the log level. A configuration that does not load, or that changes a
// key that cannot change at runtime, is refused as a whole: the error says
// why and the configuration in force stays. SIGHUP calls it; so may an
// HTTP handler (it is safe for concurrent use).
func (s *server) Reload() error {
	r := &s.reload
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, _, err := loadConfig(r.args, io.Discard)
	if err != nil {
		return err
	}
	if keys := fixedChanges(r.cfg, cfg); len(keys) > 0 {
		return fmt.Errorf("%s cannot change while the broker runs; restart it for that (nothing was reloaded)", strings.Join(keys, ", "))
	}
	a, err := newAuthorizer(cfg, r.auth.Current())
	if err != nil {
		return err
	}
	if err := r.tls.reload(cfg); err != nil {
		return err
	}
	level, _ := zerolog.ParseLevel(strings.ToLower(cfg.Log.Level)) // validated
	r.level.Store(int32(level))
	r.auth.Swap(a)
	kept, closed := s.b.Reauthorize(r.auth.Reauthorize)
	r.cfg = cfg
	warnPlainText(s.log, cfg)
	s.log.Info().Int("sessions_kept", kept).Int("sessions_closed", closed).Str("log_level", level.String()).
		Msg("configuration reloaded")
	return nil
}

// reloadOverHTTP is Reload for the monitoring listener's POST /reload,
// logged as a SIGHUP's is.
func (s *server) reloadOverHTTP() error {
	err := s.Reload()
	if err != nil {
		s.log.Error().Err(err).Str("by", "http").Msg("reload refused; the configuration in force is kept")
	}
	return err
}

// setSource records what Reload reads again: the arguments, and the
// configuration in force. Under the lock: the monitoring listener may
// already take a reload request.
func (r *reloader) setSource(args []string, cfg Config, level *atomic.Int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.args, r.cfg, r.level = args, cfg, level
}

// fixedChanges names the keys that differ between old and new, other than
// those a reload applies.
func fixedChanges(old, new Config) []string {
	// Blank out what may change, in copies.
	o, n := old, new
	o.Auth, n.Auth = AuthConfig{}, AuthConfig{}
	o.Log.Level, n.Log.Level = "", ""
	for _, p := range [][2]*TLSConfig{{&o.TCP.TLS, &n.TCP.TLS}, {&o.WS.TLS, &n.WS.TLS}, {&o.QUIC.TLS, &n.QUIC.TLS}, {&o.HTTP.TLS, &n.HTTP.TLS}} {
		for _, t := range p {
			// A listener keeps TLS on or off, and asking for client
			// certificates or not; files, verify and map_identity reload.
			t.CertFile, t.KeyFile = onOff(t.CertFile), onOff(t.KeyFile)
			t.ClientCAFile = onOff(t.ClientCAFile)
			t.Verify, t.MapIdentity = false, false
		}
	}
	var keys []string
	diff(reflect.ValueOf(o), reflect.ValueOf(n), "", &keys)
	return keys
}

func onOff(file string) string {
	if file == "" {
		return ""
	}
	return "set"
}

// diff appends the dotted yaml key of every field that differs.
func diff(a, b reflect.Value, path string, keys *[]string) {
	if a.Kind() == reflect.Struct {
		for i := range a.NumField() {
			f := a.Type().Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if path != "" {
				name = path + "." + name
			}
			diff(a.Field(i), b.Field(i), name, keys)
		}
		return
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*keys = append(*keys, path)
	}
}

package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/msgtrans/msgtrans/sdk"
)

// msgFormat is how sub and reply print a received message.
type msgFormat int

const (
	formatText msgFormat = iota // [#1] orders.eu.created (retained) k=v: payload
	formatRaw                   // the payload alone
	formatJSON                  // one JSON object per line
)

// jsonMsg is the --json line of a message.
type jsonMsg struct {
	Topic    string     `json:"topic"`
	Reply    string     `json:"reply,omitempty"`
	Headers  sdk.Header `json:"headers,omitempty"`
	Data     string     `json:"data"`
	Encoding string     `json:"encoding"` // "utf-8", or "base64" when the payload is not valid UTF-8
	Retained bool       `json:"retained"`
}

// writeMsg prints message number n (from 1) as one line in format f.
func writeMsg(w io.Writer, f msgFormat, n uint64, m *sdk.Msg) error {
	var b []byte
	switch f {
	case formatRaw:
		b = append(append(b, m.Data...), '\n')
	case formatJSON:
		j := jsonMsg{Topic: m.Topic, Reply: m.Reply, Headers: m.Header, Retained: m.Retain, Encoding: "utf-8"}
		if utf8.Valid(m.Data) {
			j.Data = string(m.Data)
		} else {
			j.Data, j.Encoding = base64.StdEncoding.EncodeToString(m.Data), "base64"
		}
		var err error
		if b, err = json.Marshal(j); err != nil {
			return err
		}
		b = append(b, '\n')
	default:
		b = append(b, textLine(n, m)...)
	}
	_, err := w.Write(b)
	return err
}

// textLine is the readable form: number, topic, flags, headers, payload.
func textLine(n uint64, m *sdk.Msg) string {
	var b strings.Builder
	b.WriteString("[#")
	b.WriteString(strconv.FormatUint(n, 10))
	b.WriteString("] ")
	b.WriteString(m.Topic)
	if m.Retain {
		b.WriteString(" (retained)")
	}
	if m.Reply != "" {
		b.WriteString(" (reply to ")
		b.WriteString(m.Reply)
		b.WriteString(")")
	}
	if len(m.Header) > 0 {
		b.WriteByte(' ')
		writeEscaped(&b, formatHeaders(m.Header))
	}
	b.WriteString(": ")
	if utf8.Valid(m.Data) {
		writeEscaped(&b, string(m.Data))
	} else {
		b.WriteString("base64:")
		b.WriteString(base64.StdEncoding.EncodeToString(m.Data))
	}
	b.WriteByte('\n')
	return b.String()
}

// writeEscaped writes s with its control characters escaped (\n, \r, \t,
// \xHH, \u00HH for C1), so that a payload holding newlines or terminal
// escape sequences stays on its line and cannot drive the terminal. Other
// characters, backslashes included, are written as they are: the line is
// for reading; --raw and --json give the exact bytes.
func writeEscaped(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, r == 0x2028, r == 0x2029:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
}

// formatFlags resolves --raw and --json into a format.
func formatFlags(raw, asJSON bool) (msgFormat, error) {
	switch {
	case raw && asJSON:
		return 0, usagef("--raw and --json exclude each other")
	case raw:
		return formatRaw, nil
	case asJSON:
		return formatJSON, nil
	}
	return formatText, nil
}

// clipLen is how much of a value an error line shows: a topic can be 64 KiB
// long, and one line on a terminal should still say what went wrong.
const clipLen = 80

// clip quotes s for an error line, cut to clipLen bytes (on a rune
// boundary) with its full length noted when it is longer.
func clip(s string) string {
	if len(s) <= clipLen {
		return strconv.Quote(s)
	}
	n := clipLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// maxLine bounds an error line. Values are clipped where they are
// printed; this catches what comes back inside an error from elsewhere
// (the broker's text, the SDK's), keeping both ends of the line: the start
// says what was done, the end usually why it failed.
const maxLine = 2048

func clipLine(s string) string {
	if len(s) <= maxLine {
		return s
	}
	head, tail := maxLine/2, maxLine/4
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	t := len(s) - tail
	for t < len(s) && !utf8.RuneStart(s[t]) {
		t++
	}
	return s[:head] + " ... (" + strconv.Itoa(t-head) + " bytes cut) ... " + s[t:]
}

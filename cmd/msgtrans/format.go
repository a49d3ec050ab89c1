package main

import (
	"encoding/base64"
	"encoding/json"
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
		b.WriteString(formatHeaders(m.Header))
	}
	b.WriteString(": ")
	if utf8.Valid(m.Data) {
		b.Write(m.Data)
	} else {
		b.WriteString("base64:")
		b.WriteString(base64.StdEncoding.EncodeToString(m.Data))
	}
	b.WriteByte('\n')
	return b.String()
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

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// newLogger returns the logger handed to go-plugin: it writes to stderr (so
// the plugin's own stderr lines, which go-plugin re-logs through it, show up
// there) and copies every entry into a capture for the JSON output.
func newLogger(o *options, stderr io.Writer) (hclog.Logger, *logCapture) {
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:       "plugin-probe",
		Level:      o.logLevel,
		Output:     stderr,
		JSONFormat: o.logJSON,
	})
	c := &logCapture{}
	l.RegisterSink(hclog.NewSinkAdapter(&hclog.LoggerOptions{
		Level:      o.logLevel,
		Output:     c,
		JSONFormat: true,
	}))
	return l, c
}

// logCapture collects hclog JSON lines.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// entries returns the captured entries as JSON objects ("@level",
// "@message", "@module", ... plus the entry's key/value pairs).
func (c *logCapture) entries() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []json.RawMessage{}
	for _, line := range bytes.Split(c.buf.Bytes(), []byte("\n")) {
		if json.Valid(line) {
			out = append(out, json.RawMessage(bytes.Clone(line)))
		}
	}
	return out
}

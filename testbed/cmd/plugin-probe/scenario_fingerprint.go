package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
)

func init() {
	register("fingerprint", "setconfig, then -count Fingerprint stream messages, TaskConfigSchema and Capabilities", runFingerprint)
}

type fingerprintResult struct {
	Setconfig        setconfigReport      `json:"setconfig"`
	FingerprintError *string              `json:"fingerprint_error"` // the Fingerprint call itself
	Messages         []fingerprintMessage `json:"messages"`
	// WaitError says why fewer than -count messages were received.
	WaitError        *string           `json:"wait_error"`
	StreamClosed     bool              `json:"stream_closed"` // the client closed the channel
	TaskConfigSchema schemaReport      `json:"task_config_schema"`
	CapabilitiesErr  *string           `json:"capabilities_error"`
	Capabilities     *capabilitiesJSON `json:"capabilities"`
}

type fingerprintMessage struct {
	ElapsedMs         int64             `json:"elapsed_ms"` // since the Fingerprint call
	Health            string            `json:"health"`
	HealthDescription string            `json:"health_description"`
	Attributes        map[string]string `json:"attributes"` // rendered with Attribute.GoString, as the client does
	Err               *string           `json:"err"`
}

func runFingerprint(ctx context.Context, s *session, o *options) any {
	r := &fingerprintResult{Setconfig: configure(s, o), Messages: []fingerprintMessage{}}

	// The stream stays open, as in the agent, while the other RPCs run.
	fpCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	start := time.Now()
	ch, err := s.driver.Fingerprint(fpCtx)
	if err != nil {
		r.FingerprintError = errStr(err)
	} else {
		r.collect(ctx, ch, start, o.count)
	}

	r.TaskConfigSchema = newSchemaReport(s.driver.TaskConfigSchema())
	caps, err := s.driver.Capabilities()
	r.CapabilitiesErr, r.Capabilities = errStr(err), describeCapabilities(caps)
	return r
}

// collect reads up to count messages from ch until ctx is done.
func (r *fingerprintResult) collect(ctx context.Context, ch <-chan *drivers.Fingerprint, start time.Time, count int) {
	for len(r.Messages) < count {
		select {
		case fp, ok := <-ch:
			if !ok {
				r.StreamClosed = true
				r.WaitError = errStr(fmt.Errorf("stream closed after %d of %d messages", len(r.Messages), count))
				return
			}
			r.Messages = append(r.Messages, describeFingerprint(fp, time.Since(start)))
		case <-ctx.Done():
			r.WaitError = errStr(fmt.Errorf("timed out after %d of %d messages", len(r.Messages), count))
			return
		}
	}
}

func describeFingerprint(fp *drivers.Fingerprint, elapsed time.Duration) fingerprintMessage {
	m := fingerprintMessage{
		ElapsedMs:         elapsed.Milliseconds(),
		Health:            string(fp.Health),
		HealthDescription: fp.HealthDescription,
		Attributes:        map[string]string{},
		Err:               errStr(fp.Err),
	}
	for k, a := range fp.Attributes {
		m.Attributes[k] = a.GoString()
	}
	return m
}

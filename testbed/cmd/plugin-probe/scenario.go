package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A scenario drives one freshly launched plugin. It reports everything,
// including RPC errors, in the value it returns (marshalled to a JSON
// object). It may kill the session itself; otherwise the runner does.
type scenario struct {
	name    string
	summary string
	run     func(ctx context.Context, s *session, o *options) any
}

var scenarios = map[string]scenario{}

// register adds a scenario; each scenario file calls it from init.
func register(name, summary string, run func(context.Context, *session, *options) any) {
	if _, dup := scenarios[name]; dup {
		panic("duplicate scenario " + name)
	}
	scenarios[name] = scenario{name: name, summary: summary, run: run}
}

// watchdogGrace is how long past -timeout a scenario may take before the
// plugin is killed to unblock RPCs that have no deadline of their own.
const watchdogGrace = 5 * time.Second

// runScenario launches the plugin, runs sc and tears the plugin down. It
// returns the JSON object to print and the exit code.
func runScenario(sc scenario, o *options, logger hclog.Logger) (map[string]any, int) {
	out := map[string]any{"scenario": sc.name, "plugin": o.pluginPath}

	s, err := launch(o, logger)
	if err != nil {
		out["launch_error"] = err.Error()
		return out, exitLaunch
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	done := make(chan any, 1)
	go func() { done <- sc.run(ctx, s, o) }()

	var result any
	select {
	case result = <-done:
	case <-time.After(o.timeout + watchdogGrace):
		out["timed_out"] = true
		s.kill() // unblocks pending RPCs
		select {
		case result = <-done:
		case <-time.After(watchdogGrace):
			out["error"] = "scenario did not return after the plugin was killed"
		}
	}

	if err := merge(out, result); err != nil {
		out["error"] = err.Error()
	}
	out["teardown"] = s.kill()
	return out, exitOK
}

// merge copies the fields of result (a struct marshalled as a JSON object)
// into out.
func merge(out map[string]any, result any) error {
	if result == nil {
		return nil
	}
	b, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("marshal result: %v", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("result is not a JSON object: %v", err)
	}
	for k, v := range fields {
		out[k] = v
	}
	return nil
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(w, "{\"error\":%q}\n", "encode output: "+err.Error())
	}
}

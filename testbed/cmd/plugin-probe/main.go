// Command plugin-probe launches a Nomad task-driver plugin binary the way the
// Nomad agent's plugin loader does (hashicorp/go-plugin over gRPC, with
// Nomad's handshake and plugin map), runs one scenario of RPCs against it
// and prints what came back as a single JSON object on stdout.
//
// Usage:
//
//	plugin-probe -plugin PATH [flags] SCENARIO [flags]
//
// Exit codes: 0 when the scenario ran (RPC errors are reported in the JSON),
// 1 when the plugin could not be launched ({"launch_error": ...}), 2 on usage
// errors ({"usage_error": ...}).
//
// Every run prints one JSON object: "scenario", "plugin", the scenario's own
// fields, "teardown" (what client.Kill did), "log" (the hclog entries
// go-plugin produced, including the plugin's re-logged stderr lines) and,
// if the scenario overran -timeout, "timed_out". Errors are strings, or null
// when there was none.
//
// Adding a scenario: create scenario_NAME.go with an init that calls
// register(NAME, summary, run). run gets a freshly launched *session (base
// and driver clients dispensed) and the parsed options, and returns a struct
// that marshals to a JSON object. The runner kills the plugin afterwards;
// a scenario that needs another process (e.g. to reattach) can call launch.
package main

import (
	"io"
	"os"
)

const (
	exitOK     = 0
	exitLaunch = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so the exit code is testable.
func run(args []string, stdout, stderr io.Writer) int {
	opts, sc, err := parseArgs(args, stderr)
	if err != nil {
		printUsage(stderr)
		writeJSON(stdout, map[string]any{"usage_error": err.Error()})
		return exitUsage
	}

	logger, logs := newLogger(opts, stderr)
	out, code := runScenario(sc, opts, logger)
	if opts.includeLog {
		out["log"] = logs.entries()
	}
	writeJSON(stdout, out)
	return code
}

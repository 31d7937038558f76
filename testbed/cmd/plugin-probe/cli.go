package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad/plugins/drivers"
)

// options holds everything the command line can set. Scenarios read it; they
// never parse flags themselves.
type options struct {
	pluginPath   string
	pluginArgs   []string
	config       map[string]any // parsed -config-json
	configGiven  bool           // -config-json was passed explicitly
	timeout      time.Duration
	startTimeout time.Duration
	count        int
	apiVersion   string
	firstAgent   string // "full" or "nil": AgentConfig of the first SetConfig
	logLevel     hclog.Level
	logJSON      bool
	includeLog   bool
	scriptPath   string // tasks: the JSON script (see scenario_tasks.go)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func newFlagSet(o *options, configJSON, logLevel *string) *flag.FlagSet {
	fs := flag.NewFlagSet("plugin-probe", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.pluginPath, "plugin", "", "path of the driver plugin binary (required)")
	fs.Var((*stringList)(&o.pluginArgs), "plugin-arg", "`ARG` passed to the plugin binary (repeatable), like the agent's plugin args")
	fs.StringVar(configJSON, "config-json", "{}", "plugin config {} block as a `JSON` object")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "time budget of the scenario once the plugin is launched")
	fs.DurationVar(&o.startTimeout, "start-timeout", time.Minute, "go-plugin StartTimeout (time for the plugin to print its handshake)")
	fs.IntVar(&o.count, "count", 1, "fingerprint: number of messages to wait for")
	fs.StringVar(&o.apiVersion, "api-version", drivers.ApiVersion010, "plugin API version sent with SetConfig")
	fs.StringVar(&o.firstAgent, "first-agent-config", "full", "AgentConfig of the first SetConfig: full (as the second) or nil (as the loader's validatePluginConfig sends) (`MODE`)")
	fs.StringVar(logLevel, "log-level", "trace", "level of the hclog logger handed to go-plugin")
	fs.BoolVar(&o.logJSON, "log-json", false, "write the stderr log as JSON lines")
	fs.BoolVar(&o.includeLog, "include-log", true, "include the captured hclog entries under \"log\" in the JSON")
	fs.StringVar(&o.scriptPath, "script", "", "tasks: the JSON script of steps to run (`FILE`)")
	return fs
}

// parseArgs parses `[flags] SCENARIO [flags]`.
func parseArgs(args []string, stderr io.Writer) (*options, scenario, error) {
	o := &options{}
	var configJSON, logLevel string
	fs := newFlagSet(o, &configJSON, &logLevel)
	given := map[string]bool{}

	if err := fs.Parse(args); err != nil {
		return nil, scenario{}, err
	}
	if fs.NArg() == 0 {
		return nil, scenario{}, errors.New("missing SCENARIO")
	}
	name := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return nil, scenario{}, err
	}
	if fs.NArg() > 0 {
		return nil, scenario{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	sc, ok := scenarios[name]
	if !ok {
		return nil, scenario{}, fmt.Errorf("unknown scenario %q", name)
	}
	if o.pluginPath == "" {
		return nil, scenario{}, errors.New("-plugin is required")
	}
	if o.timeout <= 0 || o.startTimeout <= 0 {
		return nil, scenario{}, errors.New("-timeout and -start-timeout must be positive")
	}
	if o.count < 1 {
		return nil, scenario{}, errors.New("-count must be at least 1")
	}
	if o.firstAgent != "full" && o.firstAgent != "nil" {
		return nil, scenario{}, fmt.Errorf("-first-agent-config must be full or nil, not %q", o.firstAgent)
	}
	if o.logLevel = hclog.LevelFromString(logLevel); o.logLevel == hclog.NoLevel {
		return nil, scenario{}, fmt.Errorf("invalid -log-level %q", logLevel)
	}
	cfg, err := parseConfigJSON(configJSON)
	if err != nil {
		return nil, scenario{}, fmt.Errorf("-config-json: %v", err)
	}
	o.config, o.configGiven = cfg, given["config-json"]
	return o, sc, nil
}

// parseConfigJSON decodes a JSON object the way the agent's HCL parser hands
// a plugin `config {}` block to the loader: integral numbers become int64
// (HCL1 decodes them as ints), others float64.
func parseConfigJSON(s string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("must be a JSON object")
	}
	return fixNumbers(m).(map[string]any), nil
}

func fixNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = fixNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = fixNumbers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: plugin-probe -plugin PATH [flags] SCENARIO [flags]")
	fmt.Fprintln(w, "\nscenarios:")
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, scenarios[n].summary)
	}
	fmt.Fprintln(w, "\nflags:")
	var a, b string
	fs := newFlagSet(&options{}, &a, &b)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

package main

// The "tasks" scenario runs a script of task lifecycle steps against plugin
// instances launched like the Nomad agent launches them, and reports every
// step's result plus the task events each plugin instance sent.
//
//	plugin-probe -plugin PATH -timeout 120s -script FILE tasks
//
// The script is one JSON object:
//
//	{
//	  "config":  { ... },      // the agent's plugin config {} block (as -config-json)
//	  "cleanup": true,         // default true: see "Cleanup" below
//	  "steps": [ {"op": "...", "label": "...", ...}, ... ]
//	}
//
// Every step has "op" and an optional "label" (echoed in its result, so a
// test can find it; labels name async waits). Durations are Go duration
// strings ("5s", "250ms"). Unknown fields are an error (typos fail loudly).
//
//	launch            start a plugin instance and make it the current one:
//	                  SetConfig twice with "config" (encoded like the loader),
//	                  TaskConfigSchema + hclspecutils.Convert (as the task
//	                  runner's initDriver) and open the TaskEvents stream. The
//	                  first launch adopts the process the probe already started.
//	kill_plugin       SIGKILL the current plugin process (tasks must survive);
//	                  with "delay" (e.g. "30ms") the kill is only scheduled and
//	                  the script goes on, so it lands during the next step's
//	                  RPC (a crash in the middle of StartTask or DestroyTask);
//	                  the next launch (and the cleanup) waits for it
//	shutdown_plugin   client.Kill() of the current plugin (go-plugin shutdown)
//	start             StartTask of "task" (below); its handle is kept by task
//	                  id, as the agent's state DB keeps it
//	wait              WaitTask {task_id, timeout (30s)}; with "async": true it
//	                  only opens the wait (like the task runner does right
//	                  after StartTask); "join" collects it later
//	join              {ref: label of an async wait, timeout (30s)}
//	stop              StopTask {task_id, timeout (5s, the kill timeout), signal ("")}
//	destroy           DestroyTask {task_id, force}
//	signal            SignalTask {task_id, signal}
//	inspect           InspectTask {task_id}
//	stats             TaskStats {task_id, interval (1s), count (2), timeout (30s)}
//	recover           RecoverTask {task_id, strip_driver_config} with the stored
//	                  handle; strip_driver_config passes the handle through the
//	                  agent's state DB encoding (go-msgpack, structs.MsgpackHandle),
//	                  which drops the unexported raw driver config, as after an
//	                  agent restart. A crafted handle (what a tampered state DB
//	                  would hand back): "handle_of" takes the stored handle of
//	                  that task id instead and sends it with its config id set
//	                  to task_id; "driver_state" (a string) or
//	                  "driver_state_file" (a path, read when the step runs)
//	                  replaces the bytes of its driver state
//	save_handle       {task_id, path}: writes the stored handle's driver state
//	                  bytes to the file (so a test can craft one from it)
//	events            {action: "stop"|"start"}: close or reopen the current
//	                  plugin's TaskEvents stream
//	await_event       {task_id (optional), contains, timeout (30s)}: until the
//	                  current plugin sent a matching event
//	await_file        {path, contains (optional: existence only), timeout (30s)}:
//	                  until the file exists (and contains the text), polled
//	                  every 20 ms
//	parallel          {steps: [start or recover steps]}: runs them
//	                  concurrently; their results are in "results", in order
//	touch             {path}: creates (or truncates) the file, e.g. to tell a
//	                  test that the script reached a point where it waits in
//	                  await_file for the test to act
//	proc              {task_id}: the tender's credentials, from InspectTask's
//	                  "pid" attribute and /proc/PID/status: uid, gid, groups
//	                  (lists of the numbers shown there), and its environment
//	                  from /proc/PID/environ: environ (list of "NAME=value")
//
// "task" of a start step (all optional but id, name and alloc_dir):
//
//	{"id": "<alloc>/<name>/<invocation>", "name": "web", "alloc_id": "...",
//	 "job_name": "...", "group": "...", "namespace": "default",
//	 "alloc_dir": "/abs/alloc", "stdout_path": "...", "stderr_path": "...",
//	 "env": {"K": "V"}, "user": "", "memory_mb": 64, "memory_max_mb": 0,
//	 "cpu_shares": 100, "cpuset_cpus": "1", "cpuset_cgroup": "/sys/fs/cgroup/cpuset/nomad/shared",
//	 "ports": [{"label": "http", "value": 8080, "to": 80, "host_ip": ""}],
//	 "config": { the job's config {} block as JSON: blocks are lists of objects } }
//
// "config" is decoded exactly as the Nomad client does (TaskConfigSchema →
// hclspecutils.Convert → hclutils.ParseHclInterface(config, spec, nil) →
// TaskConfig.EncodeDriverConfig); a decode failure is reported as
// "decode_error" and StartTask is not called, as the task runner does.
//
// Output: {"scenario": "tasks", "steps": [...], "plugins": [...],
// "cleanup": [...], "aborted": null|"why"}. Each step result has "index",
// "op", "label", "plugin" (index of the current instance, -1 if none),
// "elapsed_ms" (and "elapsed_us", the same in microseconds), "error" (null
// or the RPC error) and "timed_out", plus:
//
//	launch:   pid, setconfig (as in the setconfig scenario), schema_error
//	kill_plugin: pid, exited (go-plugin saw the process end); with a
//	          delay: scheduled (true), and the kill's outcome is not reported
//	shutdown_plugin: teardown
//	start:    decode_error, config_value, recoverable_error (the error is a
//	          *structs.RecoverableError, i.e. the plugin sent the detail),
//	          recoverable (structs.IsRecoverable), handle {version, state,
//	          config_id, config_id_set, driver_state (JSON if it parses,
//	          else a string)}
//	wait/join: exit_code, signal, oom_killed, err (ExitResult.Err), pending (async)
//	inspect:  id, name, state, started_at, completed_at (null if zero),
//	          exit_result {exit_code, signal, oom_killed, err}, driver_attributes,
//	          network_override (null or {ip, port_map, auto_advertise})
//	stats:    samples [{timestamp_ns, cpu_percent, total_ticks, rss, memory_usage,
//	          cpu_measured, memory_measured, pids, complete}], stream_closed
//	recover:  stripped, raw_driver_config_len (of the handle sent), crafted
//	          (handle_of, driver_state or driver_state_file was given)
//	await_*:  found
//
// A plugin entry: {index, pid, events: [{task_id, alloc_id, task_name,
// message, annotations, timestamp, step}], events_end (why the stream
// ended; null while open), teardown}.
//
// Cleanup: unless "cleanup" is false, after the steps every task that was
// started and not successfully destroyed is recovered (stripped handle) and
// force-destroyed, on the current plugin or, if it is gone, on a new
// instance, so a failing test leaves no tender behind. A step whose RPC does
// not return within its limit aborts the script (cleanup still runs).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/nomad/plugins/drivers"
)

func init() {
	register("tasks", "run the task lifecycle script -script FILE (see scenario_tasks.go) against plugin instances", runTasks)
}

type script struct {
	Config  json.RawMessage `json:"config"`
	Cleanup *bool           `json:"cleanup"`
	Steps   []step          `json:"steps"`
}

type step struct {
	Op                string    `json:"op"`
	Label             string    `json:"label"`
	TaskID            string    `json:"task_id"`
	Task              *taskSpec `json:"task"`
	Timeout           string    `json:"timeout"`
	Signal            string    `json:"signal"`
	Force             bool      `json:"force"`
	Interval          string    `json:"interval"`
	Count             int       `json:"count"`
	StripDriverConfig bool      `json:"strip_driver_config"`
	HandleOf          string    `json:"handle_of"`
	DriverState       *string   `json:"driver_state"`
	DriverStateFile   string    `json:"driver_state_file"`
	Async             bool      `json:"async"`
	Ref               string    `json:"ref"`
	Action            string    `json:"action"`
	Path              string    `json:"path"`
	Contains          string    `json:"contains"`
	Delay             string    `json:"delay"`
	Steps             []step    `json:"steps"`
}

type taskSpec struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	AllocID     string            `json:"alloc_id"`
	JobName     string            `json:"job_name"`
	Group       string            `json:"group"`
	Namespace   string            `json:"namespace"`
	AllocDir    string            `json:"alloc_dir"`
	StdoutPath  string            `json:"stdout_path"`
	StderrPath  string            `json:"stderr_path"`
	Env         map[string]string `json:"env"`
	User        string            `json:"user"`
	MemoryMB    int64             `json:"memory_mb"`
	MemoryMaxMB int64             `json:"memory_max_mb"`
	CPUShares   int64             `json:"cpu_shares"`
	CpusetCpus  string            `json:"cpuset_cpus"`
	CpusetCg    string            `json:"cpuset_cgroup"`
	Ports       []portSpec        `json:"ports"`
	Config      json.RawMessage   `json:"config"`
}

type portSpec struct {
	Label  string `json:"label"`
	Value  int    `json:"value"`
	To     int    `json:"to"`
	HostIP string `json:"host_ip"`
}

// tasksOutput is the scenario's JSON.
type tasksOutput struct {
	ScriptError *string          `json:"script_error"`
	Steps       []map[string]any `json:"steps"`
	Plugins     []*instance      `json:"plugins"`
	Cleanup     []map[string]any `json:"cleanup"`
	Aborted     *string          `json:"aborted"`
}

// tasksRun is the state of one script run: the plugin instances and what
// the agent would remember (the task handles).
type tasksRun struct {
	ctx     context.Context
	o       *options // with the script's plugin config
	initial *session // launched by the runner; the first launch adopts it

	plugins []*instance
	cur     *instance

	handles   map[string]*drivers.TaskHandle // by task id
	order     []string                       // task ids in start order
	destroyed map[string]bool
	waits     map[string]<-chan waitOutcome // async waits by label

	stepIndex atomic.Int64
	aborted   *string
	mu        sync.Mutex // guards handles and order during parallel starts
}

type waitOutcome struct {
	result *drivers.ExitResult
	open   error
}

func runTasks(ctx context.Context, s *session, o *options) any {
	out := &tasksOutput{Steps: []map[string]any{}, Plugins: []*instance{}, Cleanup: []map[string]any{}}
	sc, cfg, err := readScript(o.scriptPath)
	if err != nil {
		out.ScriptError = errStr(err)
		return out
	}
	oo := *o
	oo.config, oo.configGiven = cfg, true
	r := &tasksRun{
		ctx: ctx, o: &oo, initial: s,
		handles: map[string]*drivers.TaskHandle{}, destroyed: map[string]bool{},
		waits: map[string]<-chan waitOutcome{},
	}
	r.stepIndex.Store(-1)

	for i := range sc.Steps {
		if r.aborted != nil {
			break
		}
		if ctx.Err() != nil {
			r.aborted = errStr(fmt.Errorf("scenario timeout (-timeout) before step %d", i))
			break
		}
		r.stepIndex.Store(int64(i))
		out.Steps = append(out.Steps, r.runStep(i, &sc.Steps[i]))
	}
	r.stepIndex.Store(-1)

	if sc.Cleanup == nil || *sc.Cleanup {
		out.Cleanup = r.cleanup()
	}
	for _, p := range r.plugins {
		p.close()
	}
	out.Plugins = r.plugins
	out.Aborted = r.aborted
	return out
}

func readScript(path string) (*script, map[string]any, error) {
	if path == "" {
		return nil, nil, fmt.Errorf("the tasks scenario needs -script FILE")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	sc := &script{}
	if err := dec.Decode(sc); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	cfg := map[string]any{}
	if len(sc.Config) > 0 && string(sc.Config) != "null" {
		if cfg, err = parseConfigJSON(string(sc.Config)); err != nil {
			return nil, nil, fmt.Errorf("%s: config: %v", path, err)
		}
	}
	for i, st := range sc.Steps {
		if _, ok := stepOps[st.Op]; !ok {
			return nil, nil, fmt.Errorf("%s: steps[%d]: unknown op %q", path, i, st.Op)
		}
		if st.Op == "start" && st.Task == nil {
			return nil, nil, fmt.Errorf("%s: steps[%d]: start needs \"task\"", path, i)
		}
	}
	return sc, cfg, nil
}

// duration parses a step's duration field, with a default.
func duration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}

func (r *tasksRun) runStep(i int, st *step) map[string]any {
	res := map[string]any{"index": i, "op": st.Op, "label": st.Label, "error": nil, "timed_out": false}
	start := time.Now()
	if st.Op != "launch" {
		res["plugin"] = r.curIndex()
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				res["error"] = fmt.Sprintf("panic: %v", p)
				r.aborted = errStr(fmt.Errorf("step %d panicked: %v", i, p))
			}
		}()
		stepOps[st.Op](r, st, res)
	}()
	if st.Op == "launch" {
		res["plugin"] = r.curIndex()
	}
	elapsed := time.Since(start)
	res["elapsed_ms"] = elapsed.Milliseconds()
	res["elapsed_us"] = elapsed.Microseconds()
	return res
}

func (r *tasksRun) curIndex() int {
	if r.cur == nil {
		return -1
	}
	return r.cur.Index
}

// rpcLimit bounds every RPC of a step: the drivers client gives most of them
// no deadline, so a hung plugin would otherwise hang the probe.
const rpcLimit = 60 * time.Second

// call runs fn with a time limit; past it the step is marked timed out and
// the script aborted (the call is left behind; the plugin is killed at the
// end, which ends it).
func (r *tasksRun) call(res map[string]any, limit time.Duration, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		// Nomad's client code panics on some malformed replies; report it.
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic in the Nomad client: %v", p)
			}
		}()
		done <- fn()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		res["timed_out"] = true
		err := fmt.Errorf("%s did not return within %s", res["op"], limit)
		r.aborted = errStr(fmt.Errorf("step %v: %v", res["index"], err))
		return err
	}
}

// current returns the current live plugin, or records why there is none.
func (r *tasksRun) current(res map[string]any) *instance {
	if r.cur == nil {
		res["error"] = "no plugin instance (launch first)"
		return nil
	}
	return r.cur
}

package main

// The step operations of the tasks scenario (see scenario_tasks.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/codec"
	"github.com/hashicorp/go-multierror"
	cstructs "github.com/hashicorp/nomad/client/structs"
	"github.com/hashicorp/nomad/helper/pluginutils/hclutils"
	"github.com/hashicorp/nomad/nomad/structs"
	"github.com/hashicorp/nomad/plugins/drivers"
)

var stepOps map[string]func(*tasksRun, *step, map[string]any)

func init() {
	stepOps = map[string]func(*tasksRun, *step, map[string]any){
		"launch":          (*tasksRun).opLaunch,
		"kill_plugin":     (*tasksRun).opKillPlugin,
		"shutdown_plugin": (*tasksRun).opShutdownPlugin,
		"start":           (*tasksRun).opStart,
		"wait":            (*tasksRun).opWait,
		"join":            (*tasksRun).opJoin,
		"stop":            (*tasksRun).opStop,
		"destroy":         (*tasksRun).opDestroy,
		"signal":          (*tasksRun).opSignal,
		"inspect":         (*tasksRun).opInspect,
		"stats":           (*tasksRun).opStats,
		"recover":         (*tasksRun).opRecover,
		"save_handle":     (*tasksRun).opSaveHandle,
		"events":          (*tasksRun).opEvents,
		"await_event":     (*tasksRun).opAwaitEvent,
		"await_file":      (*tasksRun).opAwaitFile,
		"proc":            (*tasksRun).opProc,
		"touch":           (*tasksRun).opTouch,
		"parallel":        (*tasksRun).opParallel,
	}
}

// opParallel runs its "steps" (start or recover steps) at the same time, as
// the agent's task runners do for the tasks of several allocations (starts)
// or after an agent or plugin restart (recovers); the results are in
// "results", in the order given.
func (r *tasksRun) opParallel(st *step, res map[string]any) {
	for _, sub := range st.Steps {
		if sub.Op != "start" && sub.Op != "recover" {
			res["error"] = "parallel runs only start and recover steps, got " + sub.Op
			return
		}
	}
	results := make([]map[string]any, len(st.Steps))
	var wg sync.WaitGroup
	for i := range st.Steps {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = r.runStep(i, &st.Steps[i])
		}(i)
	}
	wg.Wait()
	res["results"] = results
}

func (r *tasksRun) opLaunch(_ *step, res map[string]any) {
	r.cur.awaitScheduledKill()
	r.launchInstance(res, false)
}

func (r *tasksRun) opKillPlugin(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["pid"] = p.Pid
	if st.Delay != "" {
		delay, err := duration(st.Delay, 0)
		if err != nil {
			res["error"] = err.Error()
			return
		}
		p.scheduleKill(delay)
		res["scheduled"] = true
		return
	}
	exited, err := p.sigkill()
	res["exited"] = exited
	res["error"] = errStr(err)
}

func (r *tasksRun) opShutdownPlugin(_ *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["teardown"] = p.shutdown()
}

// buildTaskConfig mirrors the task runner's buildTaskConfig for what a
// script can set.
func buildTaskConfig(t *taskSpec) *drivers.TaskConfig {
	res := &structs.AllocatedTaskResources{}
	res.Cpu.CpuShares = t.CPUShares
	res.Memory.MemoryMB = t.MemoryMB
	res.Memory.MemoryMaxMB = t.MemoryMaxMB
	ports := structs.AllocatedPorts{}
	for _, p := range t.Ports {
		ports = append(ports, structs.AllocatedPortMapping{Label: p.Label, Value: p.Value, To: p.To, HostIP: p.HostIP})
	}
	env := t.Env
	if env == nil {
		env = map[string]string{}
	}
	return &drivers.TaskConfig{
		ID:            t.ID,
		Name:          t.Name,
		JobName:       t.JobName,
		JobID:         t.JobName,
		TaskGroupName: t.Group,
		Namespace:     t.Namespace,
		Resources: &drivers.Resources{
			NomadResources: res,
			LinuxResources: &drivers.LinuxResources{
				MemoryLimitBytes: max(t.MemoryMB, t.MemoryMaxMB) * 1024 * 1024,
				CPUShares:        t.CPUShares,
				CpusetCpus:       t.CpusetCpus,
				CpusetCgroupPath: t.CpusetCg,
			},
			Ports: &ports,
		},
		Env:        env,
		DeviceEnv:  map[string]string{},
		User:       t.User,
		AllocDir:   t.AllocDir,
		StdoutPath: t.StdoutPath,
		StderrPath: t.StderrPath,
		AllocID:    t.AllocID,
	}
}

func (r *tasksRun) opStart(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.Task.ID
	if p.specErr != nil || p.spec == nil {
		res["error"] = fmt.Sprintf("no task schema: %v", p.specErr)
		return
	}
	tc := buildTaskConfig(st.Task)

	// As the task runner's runDriver.
	var raw any = map[string]any{}
	if len(st.Task.Config) > 0 && string(st.Task.Config) != "null" {
		cfg, err := parseConfigJSON(string(st.Task.Config))
		if err != nil {
			res["decode_error"] = "config is not a JSON object: " + err.Error()
			return
		}
		raw = cfg
	}
	val, diag, diagErrs := hclutils.ParseHclInterface(raw, p.spec, nil)
	if diag.HasErrors() {
		parseErr := multierror.Append(errors.New("failed to parse config: "), diagErrs...)
		res["decode_error"] = parseErr.Error()
		return
	}
	res["decode_error"] = nil
	res["config_value"] = ctyJSON(val)
	if err := tc.EncodeDriverConfig(val); err != nil {
		res["decode_error"] = fmt.Sprintf("failed to encode driver config: %v", err)
		return
	}

	var handle *drivers.TaskHandle
	var network *drivers.DriverNetwork
	var startErr error
	if err := r.call(res, rpcLimit, func() error {
		handle, network, startErr = p.s.driver.StartTask(tc)
		return nil
	}); err != nil {
		res["error"] = err.Error()
		return
	}
	res["error"] = errStr(startErr)
	if startErr != nil {
		var re *structs.RecoverableError
		res["recoverable_error"] = errors.As(startErr, &re)
		res["recoverable"] = structs.IsRecoverable(startErr)
		return
	}
	if handle == nil {
		res["error"] = "StartTask returned neither a handle nor an error"
		return
	}
	r.mu.Lock()
	if _, known := r.handles[st.Task.ID]; !known {
		r.order = append(r.order, st.Task.ID)
	}
	r.handles[st.Task.ID] = handle
	delete(r.destroyed, st.Task.ID)
	r.mu.Unlock()
	res["handle"] = describeHandle(handle)
	res["network"] = describeNetwork(network)
}

// describeNetwork is a DriverNetwork (StartTask's, or InspectTask's override) as JSON; nil as null.
func describeNetwork(n *drivers.DriverNetwork) any {
	if n == nil {
		return nil
	}
	ports := n.PortMap
	if ports == nil {
		ports = map[string]int{}
	}
	return map[string]any{"ip": n.IP, "port_map": ports, "auto_advertise": n.AutoAdvertise}
}

func describeHandle(h *drivers.TaskHandle) map[string]any {
	d := map[string]any{"version": h.Version, "state": string(h.State), "config_id": nil, "config_id_set": false}
	if h.Config != nil {
		d["config_id"] = h.Config.ID
		d["config_id_set"] = h.Config.ID != ""
	}
	if json.Valid(h.DriverState) {
		d["driver_state"] = json.RawMessage(h.DriverState)
	} else {
		d["driver_state"] = string(h.DriverState)
	}
	return d
}

func describeExit(er *drivers.ExitResult) map[string]any {
	if er == nil {
		return nil
	}
	return map[string]any{"exit_code": er.ExitCode, "signal": er.Signal, "oom_killed": er.OOMKilled, "err": errStr(er.Err)}
}

// openWait opens WaitTask; the channel yields one outcome.
func (p *instance) openWait(ctx context.Context, id string) <-chan waitOutcome {
	out := make(chan waitOutcome, 1)
	ch, err := p.s.driver.WaitTask(ctx, id)
	if err != nil {
		out <- waitOutcome{open: err}
		return out
	}
	go func() {
		res, ok := <-ch
		if !ok {
			out <- waitOutcome{open: errors.New("wait channel closed without a result")}
			return
		}
		out <- waitOutcome{result: res}
	}()
	return out
}

func (r *tasksRun) opWait(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	if st.Async {
		if st.Label == "" {
			res["error"] = "an async wait needs a label to join it by"
			return
		}
		r.waits[st.Label] = p.openWait(r.ctx, st.TaskID)
		res["pending"] = true
		return
	}
	timeout, err := duration(st.Timeout, 30*time.Second)
	if err != nil {
		res["error"] = err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	r.collectWait(p.openWait(ctx, st.TaskID), timeout+5*time.Second, ctx, res)
}

func (r *tasksRun) opJoin(st *step, res map[string]any) {
	ch, ok := r.waits[st.Ref]
	if !ok {
		res["error"] = fmt.Sprintf("no async wait labelled %q", st.Ref)
		return
	}
	timeout, err := duration(st.Timeout, 30*time.Second)
	if err != nil {
		res["error"] = err.Error()
		return
	}
	r.collectWait(ch, timeout, nil, res)
}

func (r *tasksRun) collectWait(ch <-chan waitOutcome, limit time.Duration, ctx context.Context, res map[string]any) {
	select {
	case w := <-ch:
		if w.open != nil {
			res["error"] = w.open.Error()
			return
		}
		if ctx != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && r.ctx.Err() == nil {
			res["timed_out"] = true
		}
		for k, v := range describeExit(w.result) {
			res[k] = v
		}
	case <-time.After(limit):
		res["timed_out"] = true
	}
}

func (r *tasksRun) opStop(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	timeout, err := duration(st.Timeout, 5*time.Second)
	if err != nil {
		res["error"] = err.Error()
		return
	}
	var stopErr error
	if err := r.call(res, timeout+rpcLimit, func() error {
		stopErr = p.s.driver.StopTask(st.TaskID, timeout, st.Signal)
		return nil
	}); err != nil {
		res["error"] = err.Error()
		return
	}
	res["error"] = errStr(stopErr)
}

func (r *tasksRun) opDestroy(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	var derr error
	if err := r.call(res, rpcLimit, func() error { derr = p.s.driver.DestroyTask(st.TaskID, st.Force); return nil }); err != nil {
		res["error"] = err.Error()
		return
	}
	res["error"] = errStr(derr)
	if derr == nil {
		r.destroyed[st.TaskID] = true
	}
}

func (r *tasksRun) opSignal(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	res["signal"] = st.Signal
	var serr error
	if err := r.call(res, rpcLimit, func() error { serr = p.s.driver.SignalTask(st.TaskID, st.Signal); return nil }); err != nil {
		res["error"] = err.Error()
		return
	}
	res["error"] = errStr(serr)
}

func (r *tasksRun) opInspect(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	var status *drivers.TaskStatus
	var ierr error
	if err := r.call(res, rpcLimit, func() error { status, ierr = p.s.driver.InspectTask(st.TaskID); return nil }); err != nil {
		res["error"] = err.Error()
		return
	}
	res["error"] = errStr(ierr)
	if status == nil {
		return
	}
	res["id"] = status.ID
	res["name"] = status.Name
	res["state"] = string(status.State)
	res["started_at"] = timeJSON(status.StartedAt)
	res["completed_at"] = timeJSON(status.CompletedAt)
	res["exit_result"] = describeExit(status.ExitResult)
	attrs := status.DriverAttributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	res["driver_attributes"] = attrs
	res["network_override"] = describeNetwork(status.NetworkOverride)
}

func timeJSON(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format(time.RFC3339Nano)
}

func (r *tasksRun) opStats(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	interval, err := duration(st.Interval, time.Second)
	if err != nil {
		res["error"] = err.Error()
		return
	}
	timeout, err := duration(st.Timeout, 30*time.Second)
	if err != nil {
		res["error"] = err.Error()
		return
	}
	count := st.Count
	if count <= 0 {
		count = 2
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	ch, err := p.s.driver.TaskStats(ctx, st.TaskID, interval)
	samples := []map[string]any{}
	res["samples"] = samples
	res["stream_closed"] = false
	if err != nil {
		res["error"] = err.Error()
		return
	}
	deadline := time.After(timeout)
	for len(samples) < count {
		select {
		case u, ok := <-ch:
			if !ok {
				res["stream_closed"] = true
				res["samples"] = samples
				return
			}
			samples = append(samples, describeUsage(u))
		case <-deadline:
			res["timed_out"] = true
			res["samples"] = samples
			return
		}
	}
	res["samples"] = samples
}

func describeUsage(u *cstructs.TaskResourceUsage) map[string]any {
	d := map[string]any{"timestamp_ns": u.Timestamp, "cpu_percent": nil, "total_ticks": nil, "rss": nil,
		"memory_usage": nil, "cpu_measured": []string{}, "memory_measured": []string{}, "pids": []string{},
		"complete": false}
	if ru := u.ResourceUsage; ru != nil {
		if c := ru.CpuStats; c != nil {
			d["cpu_percent"], d["total_ticks"] = c.Percent, c.TotalTicks
			if c.Measured != nil {
				d["cpu_measured"] = c.Measured
			}
		}
		if m := ru.MemoryStats; m != nil {
			d["rss"], d["memory_usage"] = m.RSS, m.Usage
			if m.Measured != nil {
				d["memory_measured"] = m.Measured
			}
		}
		d["complete"] = ru.CpuStats != nil && ru.MemoryStats != nil
	}
	pids := []string{}
	for pid := range u.Pids {
		pids = append(pids, pid)
	}
	sort.Strings(pids)
	d["pids"] = pids
	return d
}

func (r *tasksRun) opRecover(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	of := st.TaskID
	if st.HandleOf != "" {
		of = st.HandleOf
	}
	r.mu.Lock() // recover steps may run in parallel with starts
	h, ok := r.handles[of]
	r.mu.Unlock()
	if !ok {
		res["error"] = fmt.Sprintf("no handle recorded for task %q", of)
		return
	}
	send := h.Copy()
	res["stripped"] = false
	if st.StripDriverConfig {
		stripped, err := persistRoundTrip(h)
		if err != nil {
			res["error"] = "encoding the handle like the state DB: " + err.Error()
			return
		}
		send = stripped
		res["stripped"] = true
	}
	res["crafted"] = st.HandleOf != "" || st.DriverState != nil || st.DriverStateFile != ""
	if st.HandleOf != "" {
		if send.Config == nil {
			send.Config = &drivers.TaskConfig{}
		}
		send.Config.ID = st.TaskID
	}
	if st.DriverState != nil {
		send.DriverState = []byte(*st.DriverState)
	}
	if st.DriverStateFile != "" {
		b, err := os.ReadFile(st.DriverStateFile)
		if err != nil {
			res["error"] = "reading driver_state_file: " + err.Error()
			return
		}
		send.DriverState = b
	}
	res["raw_driver_config_len"] = rawDriverConfigLen(send.Config)
	var rerr error
	if err := r.call(res, rpcLimit, func() error { rerr = p.s.driver.RecoverTask(send); return nil }); err != nil {
		res["error"] = err.Error()
		return
	}
	res["error"] = errStr(rerr)
}

// opSaveHandle writes the driver state of a stored handle to a file.
func (r *tasksRun) opSaveHandle(st *step, res map[string]any) {
	res["task_id"] = st.TaskID
	res["path"] = st.Path
	h, ok := r.handles[st.TaskID]
	if !ok {
		res["error"] = fmt.Sprintf("no handle recorded for task %q", st.TaskID)
		return
	}
	res["error"] = errStr(os.WriteFile(st.Path, h.DriverState, 0o600))
}

// persistRoundTrip stores and loads the handle the way the client's state DB
// (helper/boltdd) does; unexported fields such as the raw driver config do
// not survive, exactly as across an agent restart.
func persistRoundTrip(h *drivers.TaskHandle) (*drivers.TaskHandle, error) {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, structs.MsgpackHandle).Encode(h); err != nil {
		return nil, err
	}
	out := &drivers.TaskHandle{}
	if err := codec.NewDecoderBytes(buf.Bytes(), structs.MsgpackHandle).Decode(out); err != nil {
		return nil, err
	}
	return out, nil
}

// rawDriverConfigLen reads the length of TaskConfig's unexported raw driver
// config; -1 when there is no config.
func rawDriverConfigLen(c *drivers.TaskConfig) int {
	if c == nil {
		return -1
	}
	f := reflect.ValueOf(c).Elem().FieldByName("rawDriverConfig")
	if !f.IsValid() {
		return -1
	}
	return f.Len()
}

func (r *tasksRun) opEvents(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	switch st.Action {
	case "stop":
		p.closeEvents()
	case "start":
		res["error"] = errStr(p.openEvents())
	default:
		res["error"] = fmt.Sprintf("events: action must be start or stop, not %q", st.Action)
	}
}

func (r *tasksRun) opAwaitEvent(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	timeout, err := duration(st.Timeout, 30*time.Second)
	if err != nil {
		res["error"] = err.Error()
		return
	}
	found := waitFor(time.Now().Add(timeout), func() bool { return p.findEvent(st.TaskID, st.Contains) })
	res["found"] = found
	res["timed_out"] = !found
}

func (r *tasksRun) opAwaitFile(st *step, res map[string]any) {
	timeout, err := duration(st.Timeout, 30*time.Second)
	if err != nil {
		res["error"] = err.Error()
		return
	}
	res["path"] = st.Path
	check := func() bool {
		b, err := os.ReadFile(st.Path)
		return err == nil && containsText(string(b), st.Contains)
	}
	deadline := time.Now().Add(timeout)
	found := false
	for {
		if found = check(); found || time.Now().After(deadline) || r.ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res["found"] = found
	res["timed_out"] = !found
}

func (r *tasksRun) opTouch(st *step, res map[string]any) {
	res["path"] = st.Path
	if st.Path == "" {
		res["error"] = "touch needs \"path\""
		return
	}
	res["error"] = errStr(os.WriteFile(st.Path, nil, 0o644))
}

func containsText(s, text string) bool {
	return text == "" || strings.Contains(s, text)
}

// cleanup force-destroys every task still known, on a live plugin.
func (r *tasksRun) cleanup() []map[string]any {
	out := []map[string]any{}
	var left []string
	for _, id := range r.order {
		if !r.destroyed[id] {
			left = append(left, id)
		}
	}
	if len(left) == 0 {
		return out
	}
	r.cur.awaitScheduledKill()
	// The limits below apply afresh; an earlier abort stays reported.
	prev := r.aborted
	r.aborted = nil
	defer func() {
		if prev != nil {
			r.aborted = prev
		}
	}()
	if !r.cur.alive() {
		res := map[string]any{"op": "launch", "error": nil, "timed_out": false}
		r.launchInstance(res, true)
		out = append(out, res)
		if !r.cur.alive() {
			return out
		}
	}
	p := r.cur
	for _, id := range left {
		res := map[string]any{"op": "recover+destroy", "task_id": id, "error": nil, "timed_out": false}
		stripped, err := persistRoundTrip(r.handles[id])
		if err == nil {
			err = r.call(res, rpcLimit, func() error { return p.s.driver.RecoverTask(stripped) })
		}
		res["recover_error"] = errStr(err)
		var derr error
		if err := r.call(res, rpcLimit, func() error { derr = p.s.driver.DestroyTask(id, true); return nil }); err != nil {
			derr = err
		}
		res["error"] = errStr(derr)
		out = append(out, res)
		if r.aborted != nil {
			break
		}
	}
	return out
}

// opProc reads the credentials of the task's tender: the pid from
// InspectTask's "pid" driver attribute, then /proc/PID/status.
func (r *tasksRun) opProc(st *step, res map[string]any) {
	p := r.current(res)
	if p == nil {
		return
	}
	res["task_id"] = st.TaskID
	var status *drivers.TaskStatus
	var ierr error
	if err := r.call(res, rpcLimit, func() error { status, ierr = p.s.driver.InspectTask(st.TaskID); return nil }); err != nil {
		res["error"] = err.Error()
		return
	}
	if ierr != nil {
		res["error"] = ierr.Error()
		return
	}
	pid := status.DriverAttributes["pid"]
	res["pid"] = pid
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		res["error"] = err.Error()
		return
	}
	env, err := os.ReadFile("/proc/" + pid + "/environ")
	if err != nil {
		res["error"] = err.Error()
		return
	}
	environ := []string{}
	for _, entry := range strings.Split(string(env), "\x00") {
		if entry != "" {
			environ = append(environ, entry)
		}
	}
	res["environ"] = environ
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch key {
		case "Uid", "Gid", "Groups":
			fields := strings.Fields(val)
			if fields == nil {
				fields = []string{}
			}
			res[strings.ToLower(key)] = fields
		}
	}
}

package main

// Plugin instances of the tasks scenario: launch, configure, the TaskEvents
// stream, and the two ways a plugin goes away.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/nomad/helper/pluginutils/hclspecutils"
	"github.com/hashicorp/nomad/plugins/drivers"
)

// instance is one plugin process as the agent's driver manager holds it.
type instance struct {
	Index     int         `json:"index"`
	Pid       int         `json:"pid"`
	Events    []eventJSON `json:"events"`
	EventsEnd *string     `json:"events_end"` // why the TaskEvents stream ended; null while open
	Teardown  *teardown   `json:"teardown"`   // client.Kill, once called
	Cleanup   bool        `json:"cleanup"`    // launched only to clean up
	s         *session
	spec      hcldec.Spec // the converted task config schema
	specErr   error

	mu           sync.Mutex
	eventsCancel context.CancelFunc
	eventsDone   chan struct{}
	stepIndex    func() int64
	killDone     chan struct{} // a kill_plugin with a delay: closed once it happened
}

type eventJSON struct {
	TaskID      string            `json:"task_id"`
	AllocID     string            `json:"alloc_id"`
	TaskName    string            `json:"task_name"`
	Message     string            `json:"message"`
	Annotations map[string]string `json:"annotations"`
	Timestamp   string            `json:"timestamp"`
	Step        int64             `json:"step"` // index of the step running when it arrived; -1 outside steps
}

// launchInstance starts (or, the first time, adopts) a plugin process,
// configures it like the loader and opens its TaskEvents stream.
func (r *tasksRun) launchInstance(res map[string]any, forCleanup bool) *instance {
	var s *session
	if r.initial != nil {
		s, r.initial = r.initial, nil
	} else {
		var err error
		if s, err = launch(r.o, r.loggerSession().logger); err != nil {
			res["error"] = fmt.Sprintf("launch: %v", err)
			return nil
		}
	}
	p := &instance{Index: len(r.plugins), Pid: s.pid, Events: []eventJSON{}, Cleanup: forCleanup, s: s,
		stepIndex: r.stepIndex.Load}
	r.plugins = append(r.plugins, p)
	r.cur = p
	res["pid"] = s.pid

	var sc setconfigReport
	if err := r.call(res, rpcLimit, func() error { sc = configure(s, r.o); return nil }); err != nil {
		res["error"] = err.Error()
		return p
	}
	res["setconfig"] = sc
	for _, e := range sc.SetconfigErrors {
		if e != nil {
			res["error"] = "SetConfig: " + *e
		}
	}
	if sc.ConfigSchemaError != nil || sc.DecodeError != nil {
		res["error"] = fmt.Sprintf("config schema: %v / decode: %v", deref(sc.ConfigSchemaError), deref(sc.DecodeError))
	}

	// As the task runner's initDriver: fetch and convert the task schema.
	_ = r.call(res, rpcLimit, func() error {
		schema, err := s.driver.TaskConfigSchema()
		if err != nil {
			p.specErr = err
			return nil
		}
		spec, diag := hclspecutils.Convert(schema)
		if diag.HasErrors() {
			var mErr multierror.Error
			_ = multierror.Append(&mErr, diag.Errs()...)
			p.specErr = multierror.Prefix(&mErr, "failed to convert task schema")
			return nil
		}
		p.spec = spec
		return nil
	})
	res["schema_error"] = errStr(p.specErr)

	if err := p.openEvents(); err != nil {
		res["error"] = fmt.Sprintf("TaskEvents: %v", err)
	}
	return p
}

// loggerSession is any session, for its logger.
func (r *tasksRun) loggerSession() *session {
	if len(r.plugins) > 0 {
		return r.plugins[0].s
	}
	return r.initial
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// alive: the process has not exited and was not torn down.
func (p *instance) alive() bool {
	return p != nil && p.Teardown == nil && !p.s.client.Exited()
}

func (p *instance) openEvents() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.eventsCancel != nil {
		return errors.New("the TaskEvents stream is already open")
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := p.s.driver.TaskEvents(ctx)
	if err != nil {
		cancel()
		return err
	}
	p.eventsCancel, p.eventsDone = cancel, make(chan struct{})
	p.EventsEnd = nil
	go p.collectEvents(ctx, ch, p.eventsDone)
	return nil
}

func (p *instance) collectEvents(ctx context.Context, ch <-chan *drivers.TaskEvent, done chan struct{}) {
	defer close(done)
	end := "stream closed by the plugin"
	for ev := range ch {
		if ev.Err != nil {
			end = "stream error: " + ev.Err.Error()
			continue
		}
		ann := ev.Annotations
		if ann == nil {
			ann = map[string]string{}
		}
		p.mu.Lock()
		p.Events = append(p.Events, eventJSON{
			TaskID: ev.TaskID, AllocID: ev.AllocID, TaskName: ev.TaskName, Message: ev.Message,
			Annotations: ann, Timestamp: ev.Timestamp.Format(time.RFC3339Nano), Step: p.stepIndex(),
		})
		p.mu.Unlock()
	}
	if ctx.Err() != nil {
		end = "closed by the probe"
	}
	p.mu.Lock()
	p.EventsEnd = &end
	p.mu.Unlock()
}

// closeEvents cancels the stream and waits briefly for the collector.
func (p *instance) closeEvents() {
	p.mu.Lock()
	cancel, done := p.eventsCancel, p.eventsDone
	p.eventsCancel, p.eventsDone = nil, nil
	p.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// findEvent reports whether an event matching taskID (any if empty) and
// containing text has arrived.
func (p *instance) findEvent(taskID, text string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.Events {
		if (taskID == "" || e.TaskID == taskID) && containsText(e.Message, text) {
			return true
		}
	}
	return false
}

// sigkill kills the process as a crash would and waits until go-plugin
// noticed; the events stream ends with the error the agent would see.
func (p *instance) sigkill() (bool, error) {
	if p.s.pid <= 0 {
		return false, errors.New("plugin pid unknown")
	}
	if err := syscall.Kill(p.s.pid, syscall.SIGKILL); err != nil {
		return false, err
	}
	exited := waitFor(time.Now().Add(exitTimeout), p.s.client.Exited)
	p.mu.Lock()
	done := p.eventsDone
	p.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	return exited, nil
}

// scheduleKill SIGKILLs the process after delay, without waiting.
func (p *instance) scheduleKill(delay time.Duration) {
	done := make(chan struct{})
	p.mu.Lock()
	p.killDone = done
	p.mu.Unlock()
	go func() {
		defer close(done)
		time.Sleep(delay)
		_, _ = p.sigkill()
	}()
}

// awaitScheduledKill returns once a scheduled kill of p (if any) happened; p may be nil.
func (p *instance) awaitScheduledKill() {
	if p == nil {
		return
	}
	p.mu.Lock()
	done := p.killDone
	p.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(exitTimeout + 10*time.Second):
		}
	}
}

// shutdown is client.Kill (idempotent), recorded once.
func (p *instance) shutdown() teardown {
	td := p.s.kill()
	p.mu.Lock()
	done := p.eventsDone
	p.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	p.mu.Lock()
	p.Teardown = &td
	p.mu.Unlock()
	return td
}

// close ends the instance at the end of the run.
func (p *instance) close() {
	p.closeEvents()
	p.shutdown()
}

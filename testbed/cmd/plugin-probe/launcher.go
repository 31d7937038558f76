package main

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/nomad/plugins/base"
	"github.com/hashicorp/nomad/plugins/drivers"
)

// session is one launched plugin process with its dispensed clients.
type session struct {
	client *plugin.Client
	rpc    plugin.ClientProtocol
	base   base.BasePlugin
	driver drivers.DriverPlugin
	pid    int
	logger hclog.Logger // the logger it was launched with, for launching more

	killOnce sync.Once
	killed   teardown
}

// launch starts the plugin exactly as Nomad's loader (dispensePlugin) does
// and dispenses the "base" and "driver" plugins.
func launch(o *options, logger hclog.Logger) (*session, error) {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: base.Handshake,
		Plugins: map[string]plugin.Plugin{
			base.PluginTypeBase:   &base.PluginBase{},
			base.PluginTypeDriver: drivers.NewDriverPlugin(nil, logger),
		},
		Cmd:              exec.Command(o.pluginPath, o.pluginArgs...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		StartTimeout:     o.startTimeout,
	})
	s := &session{client: client, logger: logger}
	if err := s.dispense(); err != nil {
		client.Kill()
		return nil, err
	}
	if rc := client.ReattachConfig(); rc != nil {
		s.pid = rc.Pid
	}
	return s, nil
}

func (s *session) dispense() error {
	rpc, err := s.client.Client()
	if err != nil {
		return err
	}
	s.rpc = rpc
	raw, err := rpc.Dispense(base.PluginTypeBase)
	if err != nil {
		return fmt.Errorf("dispense %s: %v", base.PluginTypeBase, err)
	}
	if s.base, _ = raw.(base.BasePlugin); s.base == nil {
		return fmt.Errorf("dispensed %T is not a base plugin", raw)
	}
	if raw, err = rpc.Dispense(base.PluginTypeDriver); err != nil {
		return fmt.Errorf("dispense %s: %v", base.PluginTypeDriver, err)
	}
	if s.driver, _ = raw.(drivers.DriverPlugin); s.driver == nil {
		return fmt.Errorf("dispensed %T is not a driver plugin", raw)
	}
	return nil
}

// grpcClient returns the go-plugin gRPC client, whose Conn reaches services
// the Nomad clients do not wrap.
func (s *session) grpcClient() (*plugin.GRPCClient, error) {
	g, ok := s.rpc.(*plugin.GRPCClient)
	if !ok {
		return nil, errors.New("go-plugin client is not a *plugin.GRPCClient")
	}
	return g, nil
}

// teardown reports what client.Kill did.
type teardown struct {
	KillMs       int64 `json:"kill_ms"`       // duration of client.Kill()
	KillReturned bool  `json:"kill_returned"` // Kill returned (possibly only after ForceKilled)
	ForceKilled  bool  `json:"force_killed"`  // Kill hung killTimeout; the probe sent SIGKILL
	Exited       bool  `json:"exited"`        // client.Exited() within exitTimeout of Kill
	ExitWaitMs   int64 `json:"exit_wait_ms"`  // from the Kill call until Exited() was true
	PidAlive     bool  `json:"pid_alive"`     // kill(pid, 0) still succeeds afterwards
}

const (
	killTimeout = 5 * time.Second
	exitTimeout = 5 * time.Second
)

// kill runs client.Kill once (later calls return the first result). Kill
// closes the gRPC client, which sends go-plugin's GRPCController.Shutdown,
// waits up to 2 s for the process to exit and then SIGKILLs it.
func (s *session) kill() teardown {
	s.killOnce.Do(func() {
		start := time.Now()
		returned := make(chan struct{})
		go func() { s.client.Kill(); close(returned) }()
		select {
		case <-returned:
			s.killed.KillReturned = true
		case <-time.After(killTimeout):
			// Kill blocks in the Shutdown RPC of an unresponsive plugin
			// (no deadline); SIGKILL it so Kill can finish.
			s.killed.ForceKilled = s.pid > 0 && syscall.Kill(s.pid, syscall.SIGKILL) == nil
			select {
			case <-returned:
				s.killed.KillReturned = true
			case <-time.After(exitTimeout):
			}
		}
		s.killed.KillMs = time.Since(start).Milliseconds()
		s.killed.Exited = waitFor(start.Add(exitTimeout), s.client.Exited)
		s.killed.ExitWaitMs = time.Since(start).Milliseconds()
		s.killed.PidAlive = pidAlive(s.pid)
	})
	return s.killed
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

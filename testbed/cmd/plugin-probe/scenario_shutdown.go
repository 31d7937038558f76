package main

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
)

func init() {
	register("shutdown", "setconfig, go-plugin GRPCController.Shutdown, then client.Kill", runShutdown)
}

// shutdownMethod is go-plugin's controller RPC: the Driver service has no
// Shutdown of its own; GRPCClient.Close (called by client.Kill) sends this.
// plugin.Empty is wire-identical to google.protobuf.Empty.
const shutdownMethod = "/plugin.GRPCController/Shutdown"

// gracefulWindow is how long client.Kill waits after Shutdown before it
// SIGKILLs the plugin; the probe waits as long before calling Kill.
const gracefulWindow = 2 * time.Second

type shutdownResult struct {
	Setconfig      setconfigReport `json:"setconfig"`
	ShutdownMethod string          `json:"shutdown_method"`
	ShutdownError  *string         `json:"shutdown_error"`
	// ExitedBeforeKill: the process exited within gracefulWindow of the
	// Shutdown RPC, before client.Kill was called.
	ExitedBeforeKill bool  `json:"exited_before_kill"`
	ShutdownExitMs   int64 `json:"shutdown_exit_ms"` // Shutdown call to exit (or to giving up)
	teardown               // Kill, as in "teardown"
}

func runShutdown(ctx context.Context, s *session, o *options) any {
	r := &shutdownResult{Setconfig: configure(s, o), ShutdownMethod: shutdownMethod}

	start := time.Now()
	if g, err := s.grpcClient(); err != nil {
		r.ShutdownError = errStr(err)
	} else {
		r.ShutdownError = errStr(g.Conn.Invoke(ctx, shutdownMethod, &emptypb.Empty{}, &emptypb.Empty{}))
	}
	r.ExitedBeforeKill = waitFor(start.Add(gracefulWindow), s.client.Exited)
	r.ShutdownExitMs = time.Since(start).Milliseconds()

	r.teardown = s.kill()
	return r
}

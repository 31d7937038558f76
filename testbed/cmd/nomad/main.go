// Command nomad is a Nomad agent and CLI built from the Go module proxy so the
// driver's tests can run against the real thing. It only wires Nomad's own
// command table into a CLI; no behaviour of ours lives here.
package main

import (
	"fmt"
	"os"

	// These packages re-exec the nomad binary as helper processes (logmon,
	// executor, artifact getter, template renderer); their init() functions
	// take over when os.Args asks for them, so they must be linked in.
	_ "github.com/hashicorp/nomad/client/allocrunner/taskrunner/getter"
	_ "github.com/hashicorp/nomad/client/logmon"
	_ "github.com/hashicorp/nomad/drivers/shared/executor"

	"github.com/mitchellh/cli"
	"github.com/hashicorp/nomad/command"
	"github.com/hashicorp/nomad/version"
)

func main() {
	meta := new(command.Meta)
	meta.SetupUi(os.Args[1:])
	agentUI := &cli.BasicUi{Reader: os.Stdin, Writer: os.Stdout, ErrorWriter: os.Stderr}
	app := &cli.CLI{
		Name:       "nomad",
		Version:    version.GetVersion().FullVersionNumber(true),
		Args:       os.Args[1:],
		Commands:   command.Commands(meta, agentUI),
		HelpFunc:   cli.BasicHelpFunc("nomad"),
		HelpWriter: os.Stdout,
	}
	code, err := app.Run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error executing CLI: %s\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

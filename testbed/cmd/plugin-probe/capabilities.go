package main

import (
	"fmt"

	"github.com/hashicorp/nomad/plugins/drivers"
)

// capabilitiesJSON is drivers.Capabilities as the Nomad client decoded it.
type capabilitiesJSON struct {
	SendSignals          bool     `json:"send_signals"`
	Exec                 bool     `json:"exec"`
	FSIsolation          string   `json:"fs_isolation"`
	NetIsolationModes    []string `json:"net_isolation_modes"`
	MustInitiateNetwork  bool     `json:"must_initiate_network"`
	MountConfigs         string   `json:"mount_configs"`
	DisableLogCollection bool     `json:"disable_log_collection"`
}

func describeCapabilities(c *drivers.Capabilities) *capabilitiesJSON {
	if c == nil {
		return nil
	}
	j := &capabilitiesJSON{
		SendSignals:          c.SendSignals,
		Exec:                 c.Exec,
		FSIsolation:          string(c.FSIsolation),
		NetIsolationModes:    []string{},
		MustInitiateNetwork:  c.MustInitiateNetwork,
		MountConfigs:         mountConfigName(c.MountConfigs),
		DisableLogCollection: c.DisableLogCollection,
	}
	for _, m := range c.NetIsolationModes {
		j.NetIsolationModes = append(j.NetIsolationModes, string(m))
	}
	return j
}

func mountConfigName(m drivers.MountConfigSupport) string {
	switch m {
	case drivers.MountConfigSupportAll:
		return "all"
	case drivers.MountConfigSupportNone:
		return "none"
	default:
		return fmt.Sprintf("unknown(%d)", int32(m))
	}
}

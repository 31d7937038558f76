package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/nomad/helper/pluginutils/loader"
)

func init() {
	register("info", "PluginInfo, reattach config, negotiated protocol version and go-plugin Ping", runInfo)
}

type infoResult struct {
	PluginInfoError   *string  `json:"plugin_info_error"`
	Type              string   `json:"type"`
	PluginAPIVersions []string `json:"plugin_api_versions"`
	PluginVersion     string   `json:"plugin_version"`
	Name              string   `json:"name"`
	// SelectedAPIVersion is the version the loader would pick from
	// PluginAPIVersions; null means the loader would skip the plugin.
	SelectedAPIVersion *string       `json:"selected_api_version"`
	APIVersionError    *string       `json:"api_version_error"`
	PluginVersionError *string       `json:"plugin_version_error"` // the loader rejects unparsable versions
	Reattach           *reattachInfo `json:"reattach"`
	NegotiatedVersion  int           `json:"negotiated_version"`
	PingError          *string       `json:"ping_error"`
}

type reattachInfo struct {
	Protocol string `json:"protocol"`
	Network  string `json:"network"`
	Addr     string `json:"addr"`
	Pid      int    `json:"pid"`
}

func runInfo(_ context.Context, s *session, _ *options) any {
	r := &infoResult{PluginAPIVersions: []string{}}

	if info, err := s.base.PluginInfo(); err != nil {
		r.PluginInfoError = errStr(err)
	} else {
		r.Type, r.PluginVersion, r.Name = info.Type, info.PluginVersion, info.Name
		if info.PluginApiVersions != nil {
			r.PluginAPIVersions = info.PluginApiVersions
		}
		if _, err := version.NewVersion(info.PluginVersion); err != nil {
			r.PluginVersionError = errStr(err)
		}
		sel, err := selectAPIVersion(info.Type, info.PluginApiVersions)
		r.APIVersionError = errStr(err)
		if sel != "" {
			r.SelectedAPIVersion = &sel
		}
	}

	if rc := s.client.ReattachConfig(); rc != nil {
		r.Reattach = &reattachInfo{Protocol: string(rc.Protocol), Pid: rc.Pid}
		if rc.Addr != nil {
			r.Reattach.Network, r.Reattach.Addr = rc.Addr.Network(), rc.Addr.String()
		}
	}
	r.NegotiatedVersion = s.client.NegotiatedVersion()
	r.PingError = errStr(s.rpc.Ping())
	return r
}

// selectAPIVersion mirrors the loader's (unexported) selectApiVersion: the
// highest plugin API version the agent also supports, "" if none.
func selectAPIVersion(pluginType string, offered []string) (string, error) {
	if len(offered) == 0 {
		return "", fmt.Errorf("plugin provided no compatible API versions")
	}
	supported, ok := loader.AgentSupportedApiVersions[pluginType]
	if !ok {
		return "", fmt.Errorf("unsupported plugin type %q", pluginType)
	}
	var vs []*version.Version
	for _, o := range offered {
		v, err := version.NewVersion(o)
		if err != nil {
			return "", fmt.Errorf("plugin provided invalid versions: failed to convert version %q : %v", o, err)
		}
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(a, b *version.Version) int { return b.Compare(a) })
	for _, sv := range supported {
		want, err := version.NewVersion(sv)
		if err != nil {
			continue
		}
		for _, v := range vs {
			if want.Equal(v) {
				return v.Original(), nil
			}
		}
	}
	return "", nil
}

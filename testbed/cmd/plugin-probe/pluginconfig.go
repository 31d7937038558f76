package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-multierror"
	"github.com/hashicorp/nomad/helper/pluginutils/hclspecutils"
	"github.com/hashicorp/nomad/helper/pluginutils/hclutils"
	"github.com/hashicorp/nomad/plugins/base"
	"github.com/hashicorp/nomad/plugins/shared/hclspec"
	"github.com/zclconf/go-cty/cty/msgpack"
)

// Port range the agent passes to drivers in AgentConfig.
const (
	clientMinPort = 14000
	clientMaxPort = 14512
)

// setconfigReport is what configure did.
type setconfigReport struct {
	ConfigSchemaError *string         `json:"config_schema_error"` // ConfigSchema RPC error
	DecodeError       *string         `json:"decode_error"`        // schema conversion or config parse error
	ConfigValue       json.RawMessage `json:"config_value"`        // decoded config (cty JSON), defaults applied
	MsgpackHex        *string         `json:"msgpack_hex"`         // PluginConfig bytes sent
	SetconfigErrors   []*string       `json:"setconfig_errors"`    // one per SetConfig call; null if not called
	Calls             []setconfigCall `json:"setconfig_calls"`
}

type setconfigCall struct {
	ApiVersion  string           `json:"api_version"`
	AgentConfig *agentConfigJSON `json:"agent_config"` // null: AgentConfig was nil
	Error       *string          `json:"error"`
}

type agentConfigJSON struct {
	Driver struct {
		ClientMinPort uint `json:"client_min_port"`
		ClientMaxPort uint `json:"client_max_port"`
	} `json:"driver"`
}

func describeAgentConfig(ac *base.AgentConfig) *agentConfigJSON {
	if ac == nil || ac.Driver == nil {
		return nil
	}
	j := &agentConfigJSON{}
	j.Driver.ClientMinPort = ac.Driver.ClientMinPort
	j.Driver.ClientMaxPort = ac.Driver.ClientMaxPort
	return j
}

// configure does what the loader's validatePluginConfig and Dispense do:
// fetch the config schema, convert it, decode o.config with it, msgpack the
// value and send it with SetConfig, twice.
func configure(s *session, o *options) setconfigReport {
	r := setconfigReport{ConfigValue: json.RawMessage("null")}

	schema, err := s.base.ConfigSchema()
	if err != nil {
		r.ConfigSchemaError = errStr(err)
		return r
	}

	var cdata []byte
	if schema == nil {
		// The loader rejects a config for a plugin without a schema and
		// otherwise sends no PluginConfig at all.
		if o.configGiven {
			r.DecodeError = errStr(fmt.Errorf("configuration not allowed but config passed"))
			return r
		}
	} else {
		if cdata, err = encodeConfig(schema, o.config, &r); err != nil {
			r.DecodeError = errStr(err)
			return r
		}
	}
	h := hex.EncodeToString(cdata)
	r.MsgpackHex = &h

	full := &base.AgentConfig{Driver: &base.ClientDriverConfig{
		ClientMinPort: clientMinPort,
		ClientMaxPort: clientMaxPort,
	}}
	first := full
	if o.firstAgent == "nil" {
		first = nil
	}
	r.SetconfigErrors = []*string{}
	for _, ac := range []*base.AgentConfig{first, full} {
		err := s.base.SetConfig(&base.Config{PluginConfig: cdata, AgentConfig: ac, ApiVersion: o.apiVersion})
		r.SetconfigErrors = append(r.SetconfigErrors, errStr(err))
		r.Calls = append(r.Calls, setconfigCall{ApiVersion: o.apiVersion, AgentConfig: describeAgentConfig(ac), Error: errStr(err)})
	}
	return r
}

// encodeConfig converts the schema, parses config with it (defaults
// applied) and msgpack-encodes the value, as validatePluginConfig does.
func encodeConfig(schema *hclspec.Spec, config map[string]any, r *setconfigReport) ([]byte, error) {
	spec, diag := hclspecutils.Convert(schema)
	if diag.HasErrors() {
		var mErr multierror.Error
		_ = multierror.Append(&mErr, diag.Errs()...)
		return nil, multierror.Prefix(&mErr, "failed converting config schema:")
	}
	val, diag, diagErrs := hclutils.ParseHclInterface(config, spec, nil)
	if diag.HasErrors() {
		var mErr multierror.Error
		_ = multierror.Append(&mErr, diagErrs...)
		return nil, multierror.Prefix(&mErr, "failed to parse config: ")
	}
	r.ConfigValue = ctyJSON(val)
	cdata, err := msgpack.Marshal(val, val.Type())
	if err != nil {
		return nil, fmt.Errorf("failed to msgpack encode config: %v", err)
	}
	return cdata, nil
}

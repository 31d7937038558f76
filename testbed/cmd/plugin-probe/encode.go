package main

import (
	"encoding/json"

	"github.com/hashicorp/nomad/helper/pluginutils/hclspecutils"
	"github.com/hashicorp/nomad/plugins/shared/hclspec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	protov1 "github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/encoding/protojson"
)

// errStr renders an error for the JSON output: null when nil.
func errStr(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// specJSON renders an hclspec.Spec as its canonical protobuf JSON (field
// names as in hcl_spec.proto); null for a nil spec.
func specJSON(spec *hclspec.Spec) (json.RawMessage, error) {
	if spec == nil {
		return json.RawMessage("null"), nil
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(protov1.MessageV2(spec))
	if err != nil {
		return nil, err
	}
	return json.RawMessage(b), nil
}

// convertError converts spec as Nomad does before using it and reports the
// diagnostics, null when conversion succeeded.
func convertError(spec *hclspec.Spec) *string {
	if _, diag := hclspecutils.Convert(spec); diag.HasErrors() {
		return errStr(diag)
	}
	return nil
}

// schemaReport is the shared shape for a schema RPC result.
type schemaReport struct {
	Error        *string         `json:"error"`         // the RPC error
	Spec         json.RawMessage `json:"spec"`          // the spec as protobuf JSON
	SpecError    *string         `json:"spec_error"`    // rendering the spec failed
	ConvertError *string         `json:"convert_error"` // hclspecutils.Convert diagnostics
}

func newSchemaReport(spec *hclspec.Spec, rpcErr error) schemaReport {
	r := schemaReport{Error: errStr(rpcErr), Spec: json.RawMessage("null")}
	if rpcErr != nil {
		return r
	}
	b, err := specJSON(spec)
	if err != nil {
		r.SpecError = errStr(err)
	} else {
		r.Spec = b
	}
	r.ConvertError = convertError(spec)
	return r
}

// ctyJSON renders a cty value as JSON; null on failure.
func ctyJSON(v cty.Value) json.RawMessage {
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

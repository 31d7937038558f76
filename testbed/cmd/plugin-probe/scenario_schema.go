package main

import (
	"context"
	"encoding/json"
)

func init() {
	register("schema", "ConfigSchema, rendered and converted with hclspecutils.Convert", runSchema)
}

type schemaResult struct {
	ConfigSchemaError *string         `json:"config_schema_error"`
	Spec              json.RawMessage `json:"spec"`
	SpecError         *string         `json:"spec_error"`
	ConvertError      *string         `json:"convert_error"`
}

func runSchema(_ context.Context, s *session, _ *options) any {
	r := newSchemaReport(s.base.ConfigSchema())
	return schemaResult{r.Error, r.Spec, r.SpecError, r.ConvertError}
}

package main

import "context"

func init() {
	register("setconfig", "decode -config-json with the plugin's schema and SetConfig it twice, as the loader does", runSetconfig)
}

func runSetconfig(_ context.Context, s *session, o *options) any {
	return configure(s, o)
}

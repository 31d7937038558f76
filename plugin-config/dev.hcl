# Driver configuration of the development agent (scripts/dev-agent.sh).
#
# This file is the single source of truth for the dev agent's plugin config.
# It holds the whole `plugin "nomad-driver-mirage"` block (the label must be
# the plugin's file name in plugin_dir). `scripts/dev-agent.sh start DIR`
# copies it verbatim into the agent config it generates (DIR/agent.hcl),
# replacing this placeholder everywhere it occurs:
#
#   @RUN_DIR@   absolute path of the agent's run directory DIR
#   @REPO@      absolute path of this repository
#
# so that everything the driver writes stays inside DIR and goes away with
# `dev-agent.sh stop DIR`. A file passed with `start --config FILE` must have
# the same shape; the placeholder is optional there.
#
# Keys left out take the driver's defaults (shown in the comments). The
# bridge and subnet live in the agent's private network namespace, so they
# never clash with the host or with another dev agent.
plugin "nomad-driver-mirage" {
  config {
    log_level = "debug"                  # trace|debug|info|warn|error; default "info"
    state_dir = "@RUN_DIR@/mirage-state" # default "/run/nomad-driver-mirage"

    # solo5_hvt          = "solo5-hvt"          # hvt tender
    # solo5_spt          = "solo5-spt"          # spt tender
    # qemu               = "qemu-system-x86_64"
    # bridge             = "mirage0"
    # subnet             = "10.99.0.0/16"
    image_paths = ["@REPO@/target/fixtures/images"] # default []: where absolute unikernel paths may point
    # fingerprint_period = "30s"
  }
}

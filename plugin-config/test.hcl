# Driver configuration for the integration tests against a real Nomad agent
# (scripts/dev-agent.sh start DIR --config plugin-config/test.hcl).
# Same shape and placeholders as dev.hcl. The Solo5 tenders cannot be
# installed from a package registry, so the tests use the stand-in tender
# built by scripts/build-test-fixtures.sh (solo5-hvt's exact CLI; it opens its
# taps and answers ARP/ICMP/UDP); qemu is the real one.
plugin "nomad-driver-mirage" {
  config {
    log_level   = "debug"
    state_dir   = "@RUN_DIR@/mirage-state"
    solo5_hvt   = "@REPO@/target/fixtures/bin/solo5-hvt"
    solo5_spt   = "@REPO@/target/fixtures/bin/solo5-spt"
    image_paths = ["@REPO@/target/fixtures/images"]
    fingerprint_period = "5s"
  }
}

# NomadAgentIT (b): a batch hvt job under the stand-in solo5-hvt that prints a
# line and exits with status 3; no restarts, so the alloc fails.
variable "image" {
  type = string
}

job "hvt-exit" {
  type = "batch"

  group "hello" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "hello" {
      driver = "mirage"

      config {
        unikernel = var.image
        # Solo5 tenders join the arguments into one guest command line, which the
        # guest splits at white space unless double quotes group the words.
        args      = ["--standin-print=\"hello from hvt\"", "--standin-exit=3"]
      }

      resources {
        cpu    = 100
        memory = 16
      }
    }
  }
}

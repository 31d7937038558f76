# NomadAgentIT (g): a batch hvt job that runs for a while and then exits with
# status 4; the test kills the plugin meanwhile, so the exit happens while no
# plugin watches the tender.
variable "image" {
  type = string
}

variable "sleep_ms" {
  type    = number
  default = 6000
}

job "hvt-sleep-exit" {
  type = "batch"

  group "sleeper" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "sleeper" {
      driver = "mirage"

      config {
        unikernel = var.image
        args      = ["--standin-sleep=${var.sleep_ms}", "--standin-exit=4"]
      }

      resources {
        cpu    = 100
        memory = 16
      }
    }
  }
}

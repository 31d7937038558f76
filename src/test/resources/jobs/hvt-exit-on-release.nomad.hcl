# NomadAgentIT (g): a batch hvt job that runs until the file var.release exists
# and then exits with status 4; the test kills the plugin first and creates
# the file while no plugin watches the tender.
variable "image" {
  type = string
}

variable "release" {
  type = string
}

job "hvt-exit-on-release" {
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
        args      = ["--standin-await=${var.release}", "--standin-exit=4"]
      }

      resources {
        cpu    = 100
        memory = 16
      }
    }
  }
}

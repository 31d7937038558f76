# AgentCrashIT: batch hvt tasks that end while the agent is down. Each group
# "exitN" waits until the file var.release exists and then exits with status
# N; the group "killed" runs until the test kills its tender. No restarts, no
# rescheduling: each allocation's end is the task's own.
variable "image" {
  type = string
}

variable "release" {
  type = string
}

variable "exit_codes" {
  type    = list(number)
  default = [0, 3, 42]
}

job "agent-crash-exits" {
  type = "batch"

  dynamic "group" {
    for_each = var.exit_codes
    labels   = ["exit${group.value}"]

    content {
      restart {
        attempts = 0
        mode     = "fail"
      }

      reschedule {
        attempts  = 0
        unlimited = false
      }

      task "main" {
        driver = "mirage"

        config {
          unikernel = var.image
          args      = ["--standin-await=${var.release}", "--standin-exit=${group.value}"]
        }

        resources {
          cpu    = 20
          memory = 16
        }
      }
    }
  }

  group "killed" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "main" {
      driver = "mirage"

      config {
        unikernel = var.image
        args      = ["--standin-run"]
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}

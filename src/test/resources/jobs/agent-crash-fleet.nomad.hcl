# AgentCrashIT: long-running hvt tasks under the stand-in tender, var.allocs
# allocations of var.tasks tasks each (t0, t1, ...), kept running across a
# SIGKILL and restart of the agent. Restarts are allowed, so that a task the
# restarted agent failed to recover would show up as a restart rather than as
# a failed allocation.
variable "image" {
  type = string
}

variable "allocs" {
  type    = number
  default = 10
}

variable "tasks" {
  type    = number
  default = 5
}

job "agent-crash-fleet" {
  type = "service"

  group "fleet" {
    count = var.allocs

    restart {
      attempts = 3
      interval = "10m"
      delay    = "1s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    dynamic "task" {
      for_each = range(var.tasks)
      labels   = ["t${task.value}"]

      content {
        driver       = "mirage"
        kill_timeout = "5s"

        config {
          unikernel = var.image
          args      = ["--standin-print=fleet-up", "--standin-run"]
        }

        resources {
          cpu    = 20
          memory = 16
        }
      }
    }
  }
}

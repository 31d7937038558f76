# NomadAgentIT (e, f): a long-running hvt service under the stand-in tender;
# it runs until signalled (solo5-hvt exits 1 on SIGTERM).
variable "image" {
  type = string
}

job "hvt-service" {
  type = "service"

  group "svc" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "svc" {
      driver       = "mirage"
      kill_timeout = "5s"

      config {
        unikernel = var.image
        args      = ["--standin-print=service-up", "--standin-run"]
      }

      resources {
        cpu    = 100
        memory = 16
      }
    }
  }
}

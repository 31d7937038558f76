# NomadNetworkIT: group networking in bridge mode, which the mirage driver does
# not support (it advertises host networking only). With or without CNI
# plugins, the Nomad v1.6.3 client refuses the allocation after asking the
# driver for its capabilities.
variable "image" {
  type = string
}

job "net-bridge" {
  type = "service"

  group "bridge" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    network {
      mode = "bridge"

      port "echo" {
        to = 7
      }
    }

    task "echo" {
      driver       = "mirage"
      kill_timeout = "5s"

      config {
        unikernel = var.image
        args      = ["--standin-run"]
      }

      resources {
        cpu    = 100
        memory = 16
      }
    }
  }
}

# NomadNetworkIT: group networking in bridge mode on a node without (working)
# CNI plugins: the Nomad v1.6.3 client places it and fails the allocation in
# its network set-up, before the driver is asked to start anything.
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

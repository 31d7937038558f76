# ClusterIT: the networked echo service of net-echo.nomad.hcl, four times, spread
# over the clients of a three-node cluster. Each allocation gets a dynamic host
# port "echo" on its node's address, forwarded to UDP/TCP port 7 of its
# unikernel; the service registers the unikernel's own address (address_mode =
# "driver"), which only means something on that node (see the README, "Running
# in a cluster").
variable "image" {
  type = string
}

job "cluster-echo" {
  type = "service"

  group "echo" {
    count = 4

    # An even spread over the nodes (no targets: Nomad aims for equal shares).
    spread {
      attribute = "${node.unique.id}"
    }

    # A drain moves both allocations of a node at once, each healthy once its
    # task has run for a second.
    migrate {
      max_parallel     = 2
      health_check     = "task_states"
      min_healthy_time = "1s"
      healthy_deadline = "30s"
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    network {
      port "echo" {
        to = 7
      }
    }

    task "echo" {
      driver       = "mirage"
      kill_timeout = "5s"

      service {
        name         = "cluster-echo"
        provider     = "nomad"
        port         = "echo"
        address_mode = "driver"
      }

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

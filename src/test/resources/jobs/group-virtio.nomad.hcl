# NomadGroupNetworkIT: the real multiboot virtio kernel with a NET_BASIC device
# under qemu (TCG) in group bridge networking mode: qemu must find the task's
# tap in the allocation's namespace (as the task's own uid it could not make
# one), boots the kernel, which prints its command line and exits.
variable "image" {
  type = string
}

job "group-virtio" {
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

    network {
      mode = "bridge"

      port "http" {
        to = 8080
      }
    }

    task "hello" {
      driver = "mirage"

      config {
        unikernel = var.image
        args      = ["--greeting=bridged"]

        qemu {
          accelerator = "tcg"
        }
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}

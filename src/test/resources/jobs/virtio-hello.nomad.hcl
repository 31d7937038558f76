# NomadAgentIT (c): the real multiboot virtio kernel under qemu (TCG): prints
# its greeting and its command line, then exits through isa-debug-exit.
variable "image" {
  type = string
}

job "virtio-hello" {
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
        args      = ["--greeting=hello", "--from=nomad"]

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

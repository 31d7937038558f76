# A long-running service: an spt unikernel with a block device that the
# driver creates on first start (inside the task directory). Stop it with
# `nomad job stop service-spt`: the driver sends kill_signal (SIGTERM by
# default), waits kill_timeout, then kills.
variable "image" {
  type    = string
  default = "/srv/unikernels/store.spt"
}

job "service-spt" {
  type = "service"

  group "store" {
    task "store" {
      driver       = "mirage"
      kill_timeout = "10s"

      config {
        unikernel = var.image

        block {
          name        = "storage"            # the manifest's BLOCK_BASIC device
          path        = "local/storage.img"  # relative to the task directory
          size        = "64MiB"              # created sparse when missing
          sector_size = 512
        }
      }

      resources {
        memory = 64
      }
    }
  }
}

# A batch job: a virtio unikernel under qemu (TCG unless the operator enables
# KVM), printing to its serial console and exiting. Its console output is in
# `nomad alloc logs <alloc> hello`, its exit in `nomad alloc status <alloc>`.
#
#   nomad job run -var image=/srv/unikernels/hello.virtio hello-virtio.nomad.hcl
#
# The image path is absolute, so it must lie under one of the agent's
# image_paths; a path relative to the task directory (e.g. one fetched by an
# artifact block into local/) needs no such permission.
variable "image" {
  type    = string
  default = "/srv/unikernels/hello.virtio"
}

job "hello-virtio" {
  type = "batch"

  group "hello" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    task "hello" {
      driver = "mirage"

      config {
        unikernel = var.image
        args      = ["--greeting=hello", "--from=nomad"]

        qemu {
          accelerator = "auto"   # tcg here; kvm when the agent sets qemu_auto_kvm = true
        }
      }

      resources {
        cpu    = 100
        memory = 32 # MB, passed to qemu as -m 32
      }
    }
  }
}

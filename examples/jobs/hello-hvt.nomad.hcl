# A batch job: an hvt unikernel under solo5-hvt. The exit status of
# solo5_exit(n) becomes the task's exit code; an abort is 255.
variable "image" {
  type    = string
  default = "/srv/unikernels/hello.hvt"
}

job "hello-hvt" {
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
        args      = ["--solo5:quiet"]
      }

      resources {
        memory = 16 # MB: --mem=16; unikernels need far less than a VM
      }
    }
  }
}

# NomadAgentIT (d): an hvt unikernel whose manifest declares BLOCK_BASIC
# "storage", started without a block stanza: a bad task config, refused as
# unrecoverable. The restart policy would allow restarts; none may happen.
variable "image" {
  type = string
}

job "block-missing" {
  type = "batch"

  group "store" {
    restart {
      attempts = 3
      delay    = "1s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "store" {
      driver = "mirage"

      config {
        unikernel = var.image
      }

      resources {
        cpu    = 100
        memory = 16
      }
    }
  }
}

# NomadNetworkIT: a networked service. The stand-in tender opens the tap of the
# manifest's NET_BASIC device "service", takes the address the driver puts in
# front of the unikernel arguments (--ipv4=ADDR/PREFIX) and answers ARP, ICMP
# echo and UDP echo on port 7. The group's dynamic port "echo" is forwarded to
# port 7 of the unikernel; the service registers the unikernel's own address
# and port (address_mode = "driver").
#
# The service sits in the task: Nomad refuses address_mode = "driver" in a
# group-level service ("only services defined in a "task" block can use this
# mode").
variable "image" {
  type = string
}

job "net-echo" {
  type = "service"

  group "echo" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    network {
      port "echo" {
        to = 7 # the unikernel's UDP echo port; the host port is dynamic
      }
    }

    task "echo" {
      driver       = "mirage"
      kill_timeout = "5s"

      service {
        name         = "echo"
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

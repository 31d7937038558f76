# A networked service: a MirageOS unikernel with one NET_BASIC device named
# "service". The driver gives it a tap on the host bridge (mirage0), a MAC and
# an address from the pool (10.99.0.0/16 by default), passes the address as
# --ipv4=ADDR/PREFIX --ipv4-gateway=GW, masquerades its outbound traffic and
# forwards the host port Nomad allocates for "http" (TCP and UDP) to port 8080
# inside the unikernel. The service registers the unikernel's own address
# (address_mode = "driver").
variable "image" {
  type    = string
  default = "/srv/unikernels/web.hvt"
}

job "web" {
  group "web" {
    network {
      port "http" {
        to = 8080 # the unikernel's port; the host port is dynamic
      }
    }

    task "web" {
      driver = "mirage"

      # address_mode = "driver" is only allowed for task-level services.
      service {
        name         = "web"
        provider     = "nomad"
        port         = "http"
        address_mode = "driver" # the unikernel IP and port 8080
      }

      config {
        unikernel = var.image

        network {
          device = "service"           # optional: the default device is "service", else the first
          ports  = ["http"]            # optional: by default every port goes to the default device
          # address     = "10.99.0.50"   # a static address inside the pool
          # mac         = "02:00:00:00:00:01"
          # ipv4_arg    = "--ipv4"       # "" passes no address argument
          # gateway_arg = "--ipv4-gateway"
        }
      }

      resources {
        memory = 64
      }
    }
  }
}

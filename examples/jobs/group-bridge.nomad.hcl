# A unikernel in Nomad's group "bridge" networking mode (needs the CNI plugins on the client,
# e.g. Debian's containernetworking-plugins and client { cni_path = "/usr/lib/cni" }).
# Nomad makes the allocation's network namespace; the driver puts the unikernel's tap there on a
# private link (169.254.1.1 gateway, 169.254.1.2 unikernel) and forwards the group port "http"
# (at `to`, from the allocation's address and from 127.0.0.1 inside it) to the unikernel.
variable "image" {
  type    = string
  default = "/srv/unikernels/web.hvt"
}

job "web-bridge" {
  group "web" {
    network {
      mode = "bridge"
      port "http" {
        to = 8080
      }
    }

    # The node's address and the dynamic host port (default address mode) ...
    service {
      name     = "web"
      provider = "nomad"
      port     = "http"
    }

    # ... or the allocation's own address and port 8080.
    service {
      name         = "web-alloc"
      provider     = "nomad"
      port         = "http"
      address_mode = "alloc"
    }

    task "web" {
      driver = "mirage"
      config {
        unikernel = var.image
        # Upstreams a Connect sidecar would listen on at 127.0.0.1:<port> inside the allocation are
        # reached at the gateway address, e.g. args = ["--db=169.254.1.1:${NOMAD_UPSTREAM_PORT_db}"].
      }
      resources {
        memory = 64
      }
    }
  }
}

# NomadGroupNetworkIT: a stand-in unikernel in Nomad's group bridge networking
# mode, with a raw_exec helper in the same group standing for a Connect sidecar:
# it listens on 127.0.0.1:9192 inside the allocation (an upstream), which the
# unikernel reaches at its gateway 169.254.1.1, then talks to the unikernel at
# 127.0.0.1:7 (the group port's `to`). Results go to the shared alloc dir.
variable "image" {
  type = string
}

job "group-mirage" {
  type = "service"

  group "web" {
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

      port "echo" {
        to = 7
      }
    }

    service {
      name         = "group-echo-alloc"
      provider     = "nomad"
      port         = "echo"
      address_mode = "alloc"
    }

    task "echo" {
      driver       = "mirage"
      kill_timeout = "5s"

      config {
        unikernel = var.image
        args = [
          "--standin-await=../alloc/upstream.ready",
          "--standin-send=169.254.1.1:9192:hello-upstream",
          "--standin-run",
        ]
      }

      resources {
        cpu    = 100
        memory = 16
      }
    }

    task "sidecar" {
      driver       = "raw_exec"
      kill_timeout = "5s"

      config {
        command = "python3"
        args = [
          "-c",
          <<-PY
          import os, signal, socket
          alloc = os.environ["NOMAD_ALLOC_DIR"]
          def publish(name, text):
              with open(os.path.join(alloc, name + ".tmp"), "w") as f:
                  f.write(text)
              os.rename(os.path.join(alloc, name + ".tmp"), os.path.join(alloc, name))
          up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
          up.bind(("127.0.0.1", 9192))
          up.settimeout(60)
          publish("upstream.ready", "")
          data, src = up.recvfrom(2048)
          publish("upstream.txt", "%s %s" % (src[0], data.decode()))
          c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
          c.settimeout(0.5)
          for _ in range(120):
              c.sendto(b"hello-localhost", ("127.0.0.1", 7))
              try:
                  reply, peer = c.recvfrom(2048)
              except socket.timeout:
                  continue
              publish("localhost.txt", "%s:%d %s" % (peer[0], peer[1], reply.decode()))
              break
          signal.pause()
          PY
        ]
      }

      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}

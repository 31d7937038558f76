# GroupBridgeBaselineIT: Nomad's group bridge networking (CNI) without the
# mirage driver. A raw_exec task in the allocation's network namespace runs a
# UDP echo server on port 7; the group port "echo" maps a dynamic host port to
# it (CNI portmap). The server writes its pid to local/echo.pid once bound.
job "group-bridge-echo" {
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
      mode = "bridge"

      port "echo" {
        to = 7
      }
    }

    task "echo" {
      driver       = "raw_exec"
      kill_timeout = "5s"

      config {
        command = "python3"
        args = [
          "-c",
          <<-PY
          import os, socket
          s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
          s.bind(("0.0.0.0", 7))
          pid_file = os.path.join(os.environ["NOMAD_TASK_DIR"], "echo.pid")
          with open(pid_file + ".tmp", "w") as f:
              f.write("%d\n" % os.getpid())
          os.rename(pid_file + ".tmp", pid_file)
          print("group-bridge-echo: listening on udp 0.0.0.0:7", flush=True)
          while True:
              data, peer = s.recvfrom(2048)
              s.sendto(data, peer)
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

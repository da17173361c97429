# The docker demo: a container serves a page; see README.md beside this file for the image.
# `waypoint-hooks -c examples/docker-demo/waypoint.hcl up`, then `destroy`.
project = "docker-demo"

status {
  policy  = "worst"
  timeout = "10s"
}

# busybox's httpd, on the host's network, judged by a HEALTHCHECK; the http release manager
# probes the page as a visitor would.
app "site" {
  deploy {
    use "docker" {
      image        = "waypoint-hooks-demo/busybox:1"
      # The shell is the container's first process, which no signal stops unless it says so:
      # it exits on SIGTERM, and so the container stops at once when it is destroyed.
      command      = ["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www && echo 'Hello from a container' > /www/index.html && httpd -f -p 127.0.0.1:8766 -h /www & wait"]
      env          = { GREETING = "hello" }
      network_mode = "host"

      healthcheck {
        test     = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8766/"]
        interval = "1s"
        retries  = 3
      }
    }
  }

  release {
    use "http" {
      url     = "http://127.0.0.1:8766/"
      timeout = "2s"
    }
  }
}

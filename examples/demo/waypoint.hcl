# The demo project: `waypoint-hooks -c examples/demo/waypoint.hcl up`, then `destroy`.
# Plugins run in this file's directory: the paths below are relative to it.
project = "demo"

# interval: how often `serve` checks each app. Every 5 seconds, so that a change (stop the
# site's server) shows on the status page within seconds; a real project checks less often.
status {
  policy   = "worst"
  timeout  = "10s"
  interval = "5s"
}

# A small web site: a local process serves it, and the http release manager probes it.
app "site" {
  deploy {
    use "process" {
      command    = ["python3", "-m", "http.server", "8765", "--bind", "127.0.0.1", "--directory", "site"]
      env        = { PYTHONUNBUFFERED = "1" }
      ready_http = "http://127.0.0.1:8765/"
      grace      = "3s"
    }
  }

  release {
    use "http" {
      timeout = "2s"
    }
  }
}

# Waypoint's own example plugin: a deployment is a file, a release a symlink to it.
app "notes" {
  deploy {
    use "filepath" {
      directory = "out"
      content   = "hello from waypoint-hooks"
    }
  }

  release {
    use "filepath" {}
  }
}

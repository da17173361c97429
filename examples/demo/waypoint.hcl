# The demo project: `waypoint-hooks -c examples/demo/waypoint.hcl up`.
# Paths are relative to this file's directory, where the plugins run.
project = "demo"

status {
  policy  = "waypoint"
  timeout = "10s"
}

app "web" {
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

app "docs" {
  deploy {
    use "filepath" {
      directory = "out/docs"
    }
  }
}

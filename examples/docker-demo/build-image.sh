#!/bin/sh
# Builds the demo's image without a registry: a root filesystem that holds busybox (Debian's
# busybox-static) and a link to it for each of its commands, imported with `docker import`.
# Usage: build-image.sh [IMAGE]   (default: waypoint-hooks-demo/busybox:1)
set -eu
image="${1:-waypoint-hooks-demo/busybox:1}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir "$root/bin"
cp /bin/busybox "$root/bin/busybox"
for command in $(/bin/busybox --list); do
    [ "$command" = busybox ] || ln -s busybox "$root/bin/$command"
done
tar -C "$root" -c . | docker import - "$image"

#!/usr/bin/env bash
# Builds the local node's and the image tooling's binaries from Go modules (no Docker, no release
# downloads): kubelet and kube-scheduler from the same pinned k8s.io/kubernetes as the control plane
# (node/k8s), and go-containerregistry's crane (node/crane: pushes and validates the image, serves
# the loopback registry). Cached under a key of (versions, go.mod/go.sum, Go version, this script)
# in <cache>/node-<key>, next to the control plane's bin-<key>. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"

cache_root=${APPLINK_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/applink-e2e}
key=$( { echo "k8s=$KUBERNETES_VERSION"; go version;
         cat "$here"/node/*/go.mod "$here"/node/*/go.sum "$0"; } | sha256sum | cut -c1-16)
bin="$cache_root/node-$key"
if [ -x "$bin/kubelet" ] && [ -x "$bin/kube-scheduler" ] && [ -x "$bin/crane" ]; then
  echo "$bin"; exit 0
fi

tmp="$bin.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

ldflags_k8s() {
  local v=$KUBERNETES_VERSION
  local major=${v%%.*}; local rest=${v#*.}; local minor=${rest%%.*}
  local f=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f="$f -X $pkg.gitVersion=v$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    f="$f -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

export CGO_ENABLED=0
echo "building node (kubelet, kube-scheduler v$KUBERNETES_VERSION) and crane into $bin" >&2
( cd "$here/node/crane" && go build -trimpath -ldflags "-s -w" -o "$tmp/crane" github.com/google/go-containerregistry/cmd/crane )
( cd "$here/node/k8s" && go build -trimpath -ldflags "$(ldflags_k8s)" -o "$tmp/" ./cmd/kube-scheduler ./cmd/kubelet )
rm -rf "$bin"; mv "$tmp" "$bin"; trap - EXIT
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"

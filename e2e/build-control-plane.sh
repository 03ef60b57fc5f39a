#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kubectl and helm from Go modules (no Docker,
# no release downloads) and caches them under a key of (versions, go.sum hashes, Go version), so a
# warm machine skips the build. Prints the bin directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.env"

cache_root=${APPLINK_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/applink-e2e}
key=$( { echo "k8s=$KUBERNETES_VERSION etcd=$ETCD_VERSION helm=$HELM_VERSION"; go version;
         cat "$here/controlplane/k8s/go.sum" "$here/controlplane/etcd/go.sum" "$here/controlplane/helm/go.sum";
         cat "$here"/controlplane/*/go.mod "$0"; } | sha256sum | cut -c1-16)
bin="$cache_root/bin-$key"
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ -x "$bin/kube-controller-manager" ] \
   && [ -x "$bin/kubectl" ] && [ -x "$bin/helm" ]; then
  echo "$bin"; exit 0
fi

tmp="$bin.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

ldflags_k8s() {
  local v=$KUBERNETES_VERSION
  local major=${v%%.*}; local rest=${v#*.}; local minor=${rest%%.*}
  local p=k8s.io/component-base/version
  local pc=k8s.io/client-go/pkg/version
  local f=""
  for pkg in $p $pc; do
    f="$f -X $pkg.gitVersion=v$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    f="$f -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

export CGO_ENABLED=0
echo "building control plane (k8s v$KUBERNETES_VERSION, etcd v$ETCD_VERSION, helm v$HELM_VERSION) into $bin" >&2
( cd "$here/controlplane/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" . )
( cd "$here/controlplane/k8s" && go build -trimpath -ldflags "$(ldflags_k8s)" -o "$tmp/" \
    ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kubectl )
( cd "$here/controlplane/helm" && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm )
rm -rf "$bin"; mv "$tmp" "$bin"; trap - EXIT
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"

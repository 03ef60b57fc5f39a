#!/usr/bin/env bash
# Builds one Go tool the checks use (promtool, cosign, a kstatus or Lua checker, ...) from its
# pinned module in e2e/tools/<name>/ (go.mod, go.sum, and either a main package or a file
# `package-path` naming the command to build; optionally a file `build-tags`, e.g. to leave out
# parts of a big command the checks do not use). Cached under a key of (that directory, Go version,
# the build's flags) in <cache>/tool-<name>-<key>/<name>. The Go build cache and the module
# downloads (promtool's alone are about 900 MB) go to a temporary directory removed afterwards:
# the binary is what is kept, and CI's disk is small. Prints the binary's path.
# Usage: e2e/build-tool.sh NAME
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: e2e/build-tool.sh NAME (a directory under e2e/tools)}
src="$here/tools/$name"
[ -f "$src/go.mod" ] || { echo "no Go module at $src (go.mod missing)" >&2; exit 1; }

cache_root=${APPLINK_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/applink-e2e}
# What the binary depends on; not the rest of this script (how the caches are kept), so that
# changing that does not rebuild every tool.
build_flags='CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -tags TAGS'
key=$( { go version; echo "$build_flags"; (cd "$src" && find . -type f | LC_ALL=C sort | xargs cat); } \
       | sha256sum | cut -c1-16)
out="$cache_root/tool-$name-$key"
if [ -x "$out/$name" ]; then echo "$out/$name"; exit 0; fi

tmp="$out.tmp.$$"
mkdir -p "$tmp/gocache" "$tmp/gomod"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
pkg=.
[ -f "$src/package-path" ] && pkg=$(tr -d '[:space:]' < "$src/package-path")
tags=
[ -f "$src/build-tags" ] && tags=$(tr -s '[:space:]' ',' < "$src/build-tags" | sed 's/^,//; s/,$//')
echo "building $name ($pkg) into $out" >&2
# -modcacherw: the temporary module cache can be removed without changing its permissions.
( cd "$src" && CGO_ENABLED=0 GOCACHE="$tmp/gocache" GOMODCACHE="$tmp/gomod" \
    GOFLAGS="-mod=readonly -modcacherw" \
    go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$tmp/$name" "$pkg" )
rm -rf "$tmp/gocache" "$tmp/gomod"
rm -rf "$out"; mv "$tmp" "$out"; trap - EXIT
echo "built $name in $(( $(date +%s) - start ))s" >&2
echo "$out/$name"

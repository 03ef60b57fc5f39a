#!/usr/bin/env bash
# Builds the operator's container image as an OCI image layout, with no Docker daemon:
#
#   e2e/build-image.sh [operator|pause] [--out DIR] [--platform linux/amd64|linux/arm64]
#                                                        prints the manifest digest on stdout
#
#   operator  a static release binary (glibc, +crt-static), Debian's CA bundle (the
#             operator loads the system roots), /etc/passwd with nonroot 65532, no shell, a
#             CycloneDX SBOM at /usr/share/doc/applink-operator/sbom.cdx.json, OCI labels
#             (source, version, revision, ...). Layout in DIR (default target/image/operator).
#   pause     the local node's pod-sandbox image (e2e/image/pause.c, static). target/image/pause.
#
# Reproducible: every timestamp is SOURCE_DATE_EPOCH (default: the commit time of HEAD), paths are
# remapped out of the binary, the layout writer (e2e/image/oci_layout.py) sorts and normalizes
# everything; two builds of one commit give the same digest (tests/e2e_helm.rs checks it).
#
# --platform (default linux/amd64, the build machine's): linux/arm64 cross-compiles for
# aarch64-unknown-linux-gnu, which needs that target's standard library (`rustup target add
# aarch64-unknown-linux-gnu`) and a cross C toolchain for ring (Debian: gcc-aarch64-linux-gnu;
# CROSS_CC and CROSS_STRIP name others). e2e/release.sh --platforms makes a multi-arch index.
#
# Push it with crane (built by e2e/build-node.sh):  crane push DIR REGISTRY/applink-operator:TAG
# Env: IMAGE_SRC (the source tree to build, default this repository: e.g. a `git worktree` of an
#      earlier commit), IMAGE_REPOSITORY (default: the chart's image.repository), IMAGE_SOURCE (the
#      source label), CARGO_TARGET_DIR, APPLINK_E2E_CACHE (where cargo-cyclonedx is installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "${IMAGE_SRC:-$here/..}" && pwd)
what=${1:-operator}; shift || true
out=""
platform=linux/amd64
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --platform) platform=$2; shift 2 ;;
    *) echo "usage: $0 [operator|pause] [--out DIR] [--platform linux/amd64|linux/arm64]" >&2; exit 2 ;;
  esac
done

cd "$repo"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
export CARGO_TARGET_DIR=$target_dir
strip_bin=strip
case "$platform" in
  linux/amd64) triple=x86_64-unknown-linux-gnu; arch=amd64 ;;
  linux/arm64)
    triple=aarch64-unknown-linux-gnu; arch=arm64
    if [ "$(uname -m)" != aarch64 ]; then
      cross_cc=${CROSS_CC:-aarch64-linux-gnu-gcc}
      strip_bin=${CROSS_STRIP:-aarch64-linux-gnu-strip}
      command -v "$cross_cc" >/dev/null || { echo "no cross C compiler $cross_cc for $platform: install gcc-aarch64-linux-gnu (Debian) or set CROSS_CC" >&2; exit 1; }
      # ring's C parts and the final link both go through the cross compiler.
      export CC_aarch64_unknown_linux_gnu=$cross_cc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$cross_cc
    fi ;;
  *) echo "unsupported --platform $platform: linux/amd64 or linux/arm64" >&2; exit 2 ;;
esac
if [ "$what" = operator ] && command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$triple"; then
  echo "the Rust standard library for $triple is not installed: rustup target add $triple" >&2; exit 1
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
chart_repo=$(sed -n 's/^  repository: //p' charts/applink-operator/values.yaml | head -1)
repository=${IMAGE_REPOSITORY:-$chart_repo}
source_url=${IMAGE_SOURCE:-https://github.com/applink-operator/applink-operator}
work=$(mktemp -d "${TMPDIR:-/tmp}/applink-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

cargo_cyclonedx() {
  local root=${APPLINK_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/applink-e2e}/cargo-cyclonedx-0.5.9
  if [ ! -x "$root/bin/cargo-cyclonedx" ]; then
    echo "installing cargo-cyclonedx 0.5.9 into $root" >&2
    cargo install cargo-cyclonedx --version 0.5.9 --locked --root "$root" >&2
  fi
  echo "$root/bin/cargo-cyclonedx"
}

case "$what" in
  operator)
    out=${out:-$target_dir/image/operator}
    # Static glibc (the C parts are ring's); crates.io paths remapped (cargo passes the workspace
    # relatively), so the binary does not depend on where it was built.
    # SOURCE_DATE_EPOCH is kept from cargo: the binary embeds no time, but cc-based build scripts
    # (ring) rerun when it changes, which would rebuild half the tree for every commit.
    env -u SOURCE_DATE_EPOCH RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$HOME/.cargo=/cargo ${RUSTFLAGS:-}" \
      cargo build --release --locked --target "$triple" --bin applink-operator >&2
    bin_path=$target_dir/$triple/release/applink-operator
    if readelf -l "$bin_path" | grep -q 'program interpreter'; then echo "$bin_path is not static" >&2; exit 1; fi
    # Symbols stripped from a copy (deterministic; the build's own artifacts stay as they are).
    "$strip_bin" -o "$work/applink-operator" "$bin_path"
    bin_path=$work/applink-operator
    cdx=$(cargo_cyclonedx)
    "$cdx" cyclonedx --format json --target "$triple" --override-filename sbom >&2
    # Timestamp, serial number and the checkout's path made reproducible (the SBOM is otherwise a
    # pure function of Cargo.lock).
    python3 - "$repo/sbom.json" "$work/sbom.cdx.json" "$repo" <<'PY'
import json, os, sys, time, uuid
# The checkout's path (in the root component's bom-ref) would make the digest depend on it.
doc = json.loads(open(sys.argv[1]).read().replace("path+file://" + sys.argv[3], "path+file:///src"))
os.remove(sys.argv[1])
epoch = int(os.environ["SOURCE_DATE_EPOCH"])
doc.setdefault("metadata", {})["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
doc.pop("serialNumber", None)
body = json.dumps(doc, sort_keys=True)
doc["serialNumber"] = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, body))
json.dump(doc, open(sys.argv[2], "w"), sort_keys=True, indent=1)
PY
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$work/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' > "$work/group"
    printf 'hosts: files dns\n' > "$work/nsswitch.conf"
    ref=$version
    python3 - "$work/spec.json" <<PY
import json, sys
labels = {
  "org.opencontainers.image.title": "applink-operator",
  "org.opencontainers.image.description": "Kubernetes operator for Atlassian Application Links",
  "org.opencontainers.image.source": "$source_url",
  "org.opencontainers.image.version": "$version",
  "org.opencontainers.image.revision": "$revision",
  "org.opencontainers.image.licenses": "Apache-2.0",
  "org.opencontainers.image.ref.name": "$repository:$version",
}
spec = {
  "architecture": "$arch",
  "files": [
    {"src": "$bin_path", "dst": "/applink-operator", "mode": 0o755},
    {"src": "/etc/ssl/certs/ca-certificates.crt", "dst": "/etc/ssl/certs/ca-certificates.crt"},
    {"src": "$work/passwd", "dst": "/etc/passwd"},
    {"src": "$work/group", "dst": "/etc/group"},
    {"src": "$work/nsswitch.conf", "dst": "/etc/nsswitch.conf"},
    {"src": "$work/sbom.cdx.json", "dst": "/usr/share/doc/applink-operator/sbom.cdx.json"},
  ],
  "dirs": [{"dst": "/tmp", "mode": 0o1777}, {"dst": "/home/nonroot", "mode": 0o755}],
  "config": {
    "User": "65532:65532",
    "Entrypoint": ["/applink-operator"],
    "Cmd": ["run"],
    "Env": ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "PATH=/"],
    "WorkingDir": "/",
    "ExposedPorts": {"8080/tcp": {}},
    "Labels": labels,
  },
}
json.dump(spec, open(sys.argv[1], "w"))
PY
    ;;
  pause)
    out=${out:-$target_dir/image/pause}
    gcc -static -Os -s -Wall -Wextra -Werror -Wl,--build-id=none -o "$work/pause" "$here/image/pause.c"
    ref=1
    cat > "$work/spec.json" <<JSON
{"files": [{"src": "$work/pause", "dst": "/pause", "mode": 493}],
 "config": {"User": "65535:65535", "Entrypoint": ["/pause"], "WorkingDir": "/",
            "Labels": {"org.opencontainers.image.title": "applink-e2e-pause",
                       "org.opencontainers.image.source": "$source_url",
                       "org.opencontainers.image.revision": "$revision"}}}
JSON
    ;;
  *) echo "usage: $0 [operator|pause] [--out DIR]" >&2; exit 2 ;;
esac

rm -rf "$out"; mkdir -p "$out"
python3 "$here/image/oci_layout.py" --out "$out" --ref "$ref" --spec "$work/spec.json"

#!/usr/bin/env bash
# Makes a release with one command and no daemon, and publishes it to an OCI registry:
#
#   COSIGN_KEY=cosign.key COSIGN_PASSWORD=... e2e/release.sh VERSION [--registry REG] [--out DIR]
#       [--plain-http] [--platforms linux/amd64,linux/arm64]
#
#   REG    where it goes (default ghcr.io/applink-operator): the image REG/applink-operator:VERSION,
#          the chart oci://REG/charts/applink-operator --version VERSION (not REG/applink-operator:
#          helm would push the chart over the image's tag).
#   DIR    local copies (default target/release/VERSION):
#            image/                          the OCI layout (e2e/build-image.sh), as pushed
#            applink-operator-VERSION.tgz    the chart, its defaults pointing at the pushed image
#                                            (image.repository REG/applink-operator, image.digest)
#            install.yaml                    one file for `kubectl apply`: CRDs, Namespace
#                                            applink-system, RBAC, Deployment (the chart's defaults,
#                                            Kubernetes >= 1.30)
#            sbom.cdx.json                   the image's CycloneDX SBOM
#            cosign.pub                      the public key the signatures verify with
#            release.env                     the references and digests published
#   --plain-http   the registry speaks HTTP (a loopback test registry).
#   --platforms    default linux/amd64: one image. Several: one image per platform (image-<arch>/,
#                  pushed as VERSION-<arch>) under an OCI index tagged VERSION, which is what is
#                  signed and installed (arm64 needs its Rust target and a cross gcc: build-image.sh).
#
# Published next to the image: the SBOM as an OCI 1.1 referrer (artifactType
# application/vnd.cyclonedx+json, `cosign attach sbom --registry-referrers-mode=oci-1-1`), a signed
# CycloneDX attestation of it, and cosign signatures of the image and of the chart (key pair:
# COSIGN_KEY, with COSIGN_PASSWORD; no transparency-log upload, so verify with
# --insecure-ignore-tlog=true, see docs/install.md).
#
# VERSION must be the version in Cargo.toml, in the chart's Chart.yaml (version and appVersion)
# and have a `## [VERSION]` section in CHANGELOG.md: the release is refused otherwise, saying which
# file to change. Tools: crane (e2e/build-node.sh), helm (e2e/build-control-plane.sh), cosign
# (COSIGN_BIN, else e2e/build-tool.sh cosign), all built from pinned Go modules and cached. Credentials for a real
# registry: `crane auth login`, `helm registry login` and cosign read ~/.docker/config.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

usage() { echo "usage: COSIGN_KEY=FILE $0 VERSION [--registry REG] [--out DIR] [--plain-http] [--platforms P1,P2]" >&2; exit 2; }
die() { echo "release: $*" >&2; exit 1; }
version=${1:-}; [ -n "$version" ] || usage; shift
registry=ghcr.io/applink-operator
out=""
plain_http=false
platforms=linux/amd64
while [ $# -gt 0 ]; do
  case "$1" in
    --registry) registry=${2%/}; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --plain-http) plain_http=true; shift ;;
    --platforms) platforms=$2; shift 2 ;;
    *) usage ;;
  esac
done
out=${out:-$repo/target/release/$version}

# One version everywhere: the binary reports Cargo.toml's, the chart's appVersion is the image tag.
cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
chart_yaml=charts/applink-operator/Chart.yaml
chart_version=$(sed -n 's/^version: *//p' "$chart_yaml" | tr -d '"')
app_version=$(sed -n 's/^appVersion: *//p' "$chart_yaml" | tr -d '"')
[ "$cargo_version" = "$version" ] || die "Cargo.toml says version $cargo_version, not $version: set version = \"$version\" in Cargo.toml (and run cargo update -p applink-operator)"
[ "$chart_version" = "$version" ] || die "$chart_yaml says version: $chart_version, not $version: set it to $version"
[ "$app_version" = "$version" ] || die "$chart_yaml says appVersion: $app_version, not $version: set it to \"$version\""
grep -q "^## \[$version\]" CHANGELOG.md || die "CHANGELOG.md has no '## [$version] - DATE' section: rename [Unreleased] to it"
[ -n "${COSIGN_KEY:-}" ] && [ -f "$COSIGN_KEY" ] \
  || die "COSIGN_KEY must name the cosign private key file that signs the release (cosign generate-key-pair makes one)"

crane_bin=$("$here/build-node.sh")/crane
helm_bin=$("$here/build-control-plane.sh")/helm
# cosign's module graph is large (about 1.5 GB unpacked, most of it cloud KMS SDKs): a first build
# downloads it into a throwaway module cache, so only the binary stays on a small disk.
cosign_bin=${COSIGN_BIN:-}
if [ -z "$cosign_bin" ]; then
  gomod=$(mktemp -d "${TMPDIR:-/tmp}/applink-gomod.XXXXXX")
  cosign_bin=$(GOMODCACHE=$gomod "$here/build-tool.sh" cosign)
  chmod -R u+w "$gomod"; rm -rf "$gomod"
fi
http_flags=(); helm_http=(); cosign_http=()
if $plain_http; then http_flags=(--insecure); helm_http=(--plain-http); cosign_http=(--allow-http-registry); fi
crane() { "$crane_bin" "$@"; }
hhome=$(mktemp -d "${TMPDIR:-/tmp}/applink-release.XXXXXX")
trap 'rm -rf "$hhome"' EXIT
helm() { HELM_CONFIG_HOME=$hhome/config HELM_CACHE_HOME=$hhome/cache HELM_DATA_HOME=$hhome/data "$helm_bin" "$@"; }
# The key pair's password comes from COSIGN_PASSWORD; nothing is uploaded to a transparency log.
cosign() { "$cosign_bin" "$@"; }

rm -rf "$out"; mkdir -p "$out"
image_repo=$registry/applink-operator

echo "== image" >&2
# The layout is independent of REG (its ref.name label is the chart's canonical repository), so
# the digest is the same wherever it is pushed and anyone can rebuild and compare it.
IFS=, read -r -a plats <<<"$platforms"
if [ ${#plats[@]} = 1 ]; then
  digest=$("$here/build-image.sh" operator --platform "${plats[0]}" --out "$out/image")
  crane push "${http_flags[@]}" "$out/image" "$image_repo:$version" >&2
  sbom_from=$image_repo@$digest
else
  manifests=()
  for p in "${plats[@]}"; do
    a=${p#linux/}
    d=$("$here/build-image.sh" operator --platform "$p" --out "$out/image-$a")
    crane push "${http_flags[@]}" "$out/image-$a" "$image_repo:$version-$a" >&2
    manifests+=(-m "$image_repo@$d")
    sbom_from=$image_repo@$d
  done
  crane index append "${http_flags[@]}" "${manifests[@]}" -t "$image_repo:$version" >&2
  digest=$(crane digest "${http_flags[@]}" "$image_repo:$version")
fi
pushed=$(crane digest "${http_flags[@]}" "$image_repo:$version")
[ "$pushed" = "$digest" ] || die "the registry reports $pushed for $image_repo:$version, the layout is $digest"
image_ref=$image_repo@$digest

echo "== SBOM: extracted, attached as a referrer, attested" >&2
# The SBOM lists the crates, the same for every platform.
crane export "${http_flags[@]}" "$sbom_from" - | tar -xO usr/share/doc/applink-operator/sbom.cdx.json > "$out/sbom.cdx.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["bomFormat"]=="CycloneDX", d.get("bomFormat")' "$out/sbom.cdx.json" \
  || die "the image's SBOM is not CycloneDX JSON"
COSIGN_EXPERIMENTAL=1 cosign attach sbom "${cosign_http[@]}" --registry-referrers-mode=oci-1-1 \
  --type cyclonedx --sbom "$out/sbom.cdx.json" "$image_ref" >&2
cosign attest "${cosign_http[@]}" --yes --tlog-upload=false --key "$COSIGN_KEY" \
  --type cyclonedx --predicate "$out/sbom.cdx.json" "$image_ref" >&2

echo "== image signature" >&2
cosign sign "${cosign_http[@]}" --yes --tlog-upload=false --key "$COSIGN_KEY" "$image_ref" >&2
cosign public-key --key "$COSIGN_KEY" > "$out/cosign.pub"

echo "== chart" >&2
stage=$hhome/chart
mkdir -p "$stage"
cp -r charts/applink-operator "$stage/"
values=$stage/applink-operator/values.yaml
# The packaged chart installs the image just pushed, by digest (a mirror holding the same digest
# works by changing image.repository only).
sed -i -e "s#^  repository: .*#  repository: $image_repo#" -e "s#^  digest: \"\"#  digest: \"$digest\"#" "$values"
grep -q "^  digest: \"$digest\"" "$values" || die "could not set image.digest in the packaged values.yaml"
python3 - "$stage/applink-operator/Chart.yaml" "$image_repo:$version@$digest" "$platforms" <<'PY' || die "could not rewrite artifacthub.io/images"
import re, sys
path, image, platforms = sys.argv[1:]
text = open(path).read()
block = "  artifacthub.io/images: |\n    - name: applink-operator\n      image: " + image + "\n      platforms:\n" \
    + "".join("        - " + p + "\n" for p in platforms.split(","))
new, n = re.subn(r"  artifacthub\.io/images: \|\n(?:    .*\n)+", block, text)
assert n == 1, n
open(path, "w").write(new)
PY
helm lint --strict "$stage/applink-operator" >&2
helm package "$stage/applink-operator" --destination "$out" >&2
tgz=$out/applink-operator-$version.tgz
[ -f "$tgz" ] || die "helm package did not write $tgz"
helm push "${helm_http[@]}" "$tgz" "oci://$registry/charts" 2>&1 | tee "$hhome/push.log" >&2
chart_digest=$(sed -n 's/^Digest: //p' "$hhome/push.log")
[ -n "$chart_digest" ] || die "helm push printed no digest"
cosign sign "${cosign_http[@]}" --yes --tlog-upload=false --key "$COSIGN_KEY" \
  "$registry/charts/applink-operator@$chart_digest" >&2

echo "== install manifest" >&2
{
  printf -- '# applink-operator %s: CRDs, Namespace, RBAC and Deployment (the chart'"'"'s defaults).\n' "$version"
  printf -- '# kubectl apply --server-side -f install.yaml\n'
  printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: applink-system\n'
  # Rendered for Kubernetes 1.30, the first with ValidatingAdmissionPolicy (the Secret write policy).
  helm template applink-operator "$tgz" --namespace applink-system --include-crds --skip-tests \
    --kube-version 1.30.0
} > "$out/install.yaml"
grep -q "image: \"$image_ref\"" "$out/install.yaml" || die "install.yaml does not name $image_ref"

cat > "$out/release.env" <<EOF
VERSION=$version
IMAGE=$image_ref
IMAGE_TAG=$image_repo:$version
CHART=oci://$registry/charts/applink-operator
CHART_DIGEST=$chart_digest
EOF
echo "released $version: $image_ref, oci://$registry/charts/applink-operator:$version@$chart_digest" >&2
cat "$out/release.env"

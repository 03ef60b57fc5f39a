#!/usr/bin/env bash
# The install users would do, for real: the operator image built without a daemon, released with
# e2e/release.sh into a loopback registry (image, SBOM referrer and attestation, cosign
# signatures made with a key generated for this run, the chart as an OCI artefact, install.yaml)
# and verified with cosign; the previous commit's chart and image `helm install`ed as pods on a
# real node (e2e/node.sh), reconciling the examples against the simulated applications; then
# `helm upgrade` to the released chart from oci:// with two replicas and leader election,
# `helm test`, `helm uninstall`, a fresh `helm install oci://...` with the chart's defaults, and
# `kubectl apply` of install.yaml.
#
#   e2e/helm-e2e.sh          (root; run by tests/e2e_helm.rs from e2e/test.sh)
#
# Env: APPLINK_E2E_PREVIOUS_REF   the commit whose chart and image are upgraded from: default the
#                                 newest release tag (v*) below HEAD, else HEAD~1
#      APPLINK_E2E_RUN            state directory (default: a new temporary one)
#      APPLINK_E2E_PREVIOUS_TARGET the previous image's cargo target directory (default: a cached one)
# Every wait polls with a deadline; everything started here is stopped on exit (EXIT trap).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
export APPLINK_E2E_RUN=${APPLINK_E2E_RUN:-$(mktemp -d "${TMPDIR:-/tmp}/applink-helm-e2e.XXXXXX")}
run=$APPLINK_E2E_RUN
# The previous released version: the newest v* tag that is an ancestor of HEAD~1 (a release
# commit's own tag is not its previous one); a repository without tags upgrades from HEAD~1.
prev_ref=${APPLINK_E2E_PREVIOUS_REF:-$(git -C "$repo" describe --tags --abbrev=0 --match 'v[0-9]*' HEAD~1 2>/dev/null || echo HEAD~1)}
ns=applink-system
apps_ns=apps
release=applink
t_start=$(date +%s)

step() { printf '\n[helm-e2e %4ss] %s\n' "$(( $(date +%s) - t_start ))" "$*" >&2; }
fail() { echo "[helm-e2e] FAILED: $*" >&2; exit 1; }

wait_for() { # description, max seconds, command...
  local what=$1 max=$2; shift 2
  local deadline=$(( $(date +%s) + max ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "timed out after ${max}s waiting for $what"
    sleep 0.5
  done
}

sim_pid=""
prev_tree=""
cleanup() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ] && [ -x "$run/bin/kubectl" ]; then
    echo "---- diagnostics (exit $rc) ----" >&2
    kubectl get pods -A -o wide >&2
    kubectl get applinks,applicationinstances -A >&2
    kubectl -n "$ns" get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 20 >&2
    tail -n 20 "$run/logs/kubelet.log" >&2 2>/dev/null
  fi
  [ -n "$sim_pid" ] && { kill -TERM "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; }
  "$here/node.sh" down
  [ -n "$prev_tree" ] && git -C "$repo" worktree remove --force "$prev_tree" >/dev/null 2>&1
  exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT

kubectl() { "$run/bin/kubectl" --kubeconfig "$run/kubeconfig" --request-timeout=30s "$@"; }
helm() {
  HELM_CONFIG_HOME=$run/helm/config HELM_CACHE_HOME=$run/helm/cache HELM_DATA_HOME=$run/helm/data \
    "$run/bin/helm" --kubeconfig "$run/kubeconfig" "$@"
}
crane() { "$run/node/bin/crane" "$@"; }

step "node: control plane + kube-scheduler + kubelet + containerd + registry"
"$here/node.sh" up
registry=$(cat "$run/node/registry")

step "image: build twice (reproducible), push to $registry, validate"
t0=$(date +%s)
digest=$("$here/build-image.sh" operator --out "$run/images/current")
echo "built $digest in $(( $(date +%s) - t0 ))s" >&2
again=$("$here/build-image.sh" operator --out "$run/images/current-again")
[ "$digest" = "$again" ] || fail "two builds of one commit differ: $digest vs $again"
crane push --insecure "$run/images/current" "$registry/applink-operator:current" >/dev/null
crane validate --remote "$registry/applink-operator:current" >&2
[ "$(crane digest --insecure "$registry/applink-operator:current")" = "$digest" ] || fail "pushed digest differs"
config=$(crane config --insecure "$registry/applink-operator:current")
python3 - "$config" "$(git -C "$repo" rev-parse HEAD)" <<'PY' || fail "image config"
import json, sys
c = json.loads(sys.argv[1]); cfg = c["config"]; labels = cfg["Labels"]
assert cfg["User"] == "65532:65532", cfg["User"]
assert cfg["Entrypoint"] == ["/applink-operator"], cfg["Entrypoint"]
assert labels["org.opencontainers.image.revision"] == sys.argv[2], labels
for k in ("source", "version", "revision"):
    assert labels.get("org.opencontainers.image." + k), k
PY
files=$(crane export --insecure "$registry/applink-operator:current" - | tar -t)
for f in applink-operator etc/ssl/certs/ca-certificates.crt etc/passwd usr/share/doc/applink-operator/sbom.cdx.json; do
  grep -qx "$f" <<<"$files" || fail "image lacks $f"
done
! grep -Eq '^(bin/|usr/bin/|bin/sh)' <<<"$files" || fail "image has a shell or a bin directory"
# The binary in the image is this commit's (it knows `check`, which the helm test hook runs).
tmpbin=$run/images/bin-current
crane export --insecure "$registry/applink-operator:current" - | tar -xO applink-operator > "$tmpbin"
chmod +x "$tmpbin"
"$tmpbin" check --help >/dev/null || fail "the image's binary is not this commit's (no check subcommand)"

step "release: e2e/release.sh into $registry, signed with a key made for this run"
# A first build of cosign downloads its modules into a throwaway cache (see e2e/release.sh).
gomod=$(mktemp -d "${TMPDIR:-/tmp}/applink-gomod.XXXXXX")
COSIGN_BIN=$(GOMODCACHE=$gomod "$here/build-tool.sh" cosign) || fail "building cosign"
chmod -R u+w "$gomod"; rm -rf "$gomod"
export COSIGN_BIN
cosign() { "$COSIGN_BIN" "$@"; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -1)
mkdir -p "$run/keys" "$run/other-keys"
# The password stays in this process's environment; the keys are this run's only.
COSIGN_PASSWORD=$(head -c 18 /dev/urandom | base64)
export COSIGN_PASSWORD
(cd "$run/keys" && cosign generate-key-pair >/dev/null 2>&1) || fail "cosign generate-key-pair"
(cd "$run/other-keys" && cosign generate-key-pair >/dev/null 2>&1) || fail "cosign generate-key-pair"
t0=$(date +%s)
COSIGN_KEY=$run/keys/cosign.key "$here/release.sh" "$version" --registry "$registry" \
  --out "$run/release" --plain-http > "$run/release.env" || fail "e2e/release.sh"
echo "released in $(( $(date +%s) - t0 ))s" >&2
# shellcheck disable=SC1091
source "$run/release.env"
[ "$IMAGE" = "$registry/applink-operator@$digest" ] \
  || fail "the released image $IMAGE is not the one built above ($digest): the build is not reproducible"
[ -s "$run/release/install.yaml" ] && [ -s "$run/release/applink-operator-$version.tgz" ] || fail "release files missing"

step "verify the release as a user would: signatures, SBOM referrer and attestation"
verify() { cosign verify --key "$1" --insecure-ignore-tlog=true --allow-http-registry "$2"; }
verify "$run/release/cosign.pub" "$IMAGE" > "$run/verify-image.json" 2>"$run/verify-image.log" \
  || { cat "$run/verify-image.log" >&2; fail "cosign verify of the image"; }
python3 - "$run/verify-image.json" "$digest" <<'PY' || fail "the image signature is not for the released digest"
import json, sys
sigs = json.load(open(sys.argv[1]))
assert sigs and all(s["critical"]["image"]["docker-manifest-digest"] == sys.argv[2] for s in sigs), sigs
PY
verify "$run/release/cosign.pub" "$registry/charts/applink-operator@$CHART_DIGEST" >/dev/null 2>"$run/verify-chart.log" \
  || { cat "$run/verify-chart.log" >&2; fail "cosign verify of the chart"; }
# The check can fail: a key that signed nothing is refused, for the image and the chart.
! verify "$run/other-keys/cosign.pub" "$IMAGE" >/dev/null 2>&1 || fail "the image verified with a key that never signed it"
! verify "$run/other-keys/cosign.pub" "$registry/charts/applink-operator@$CHART_DIGEST" >/dev/null 2>&1 \
  || fail "the chart verified with a key that never signed it"
cosign verify-attestation --key "$run/release/cosign.pub" --insecure-ignore-tlog=true --allow-http-registry \
  --type cyclonedx "$IMAGE" > "$run/verify-att.json" 2>"$run/verify-att.log" \
  || { cat "$run/verify-att.log" >&2; fail "cosign verify-attestation (cyclonedx)"; }
# The SBOM referrer, found as an OCI 1.1 client finds it: the referrers API, else (a registry
# without it, like crane's) the referrers tag schema's index `sha256-<hex>`. Its one layer is the
# image's SBOM, byte for byte.
curl -fsS "http://$registry/v2/applink-operator/referrers/$digest" > "$run/referrers.json" 2>/dev/null \
  || crane manifest --insecure "$registry/applink-operator:sha256-${digest#sha256:}" > "$run/referrers.json" \
  || fail "no referrers of $digest (API or tag schema)"
sbom_ref=$(python3 - "$run/referrers.json" <<'PY'
import json, sys
idx = json.load(open(sys.argv[1]))
m = [d for d in idx.get("manifests", []) if d.get("artifactType") == "application/vnd.dev.cosign.artifact.sbom.v1+json"]
assert len(m) == 1, idx
print(m[0]["digest"])
PY
) || fail "no SBOM referrer of $digest"
sbom_layer=$(crane manifest --insecure "$registry/applink-operator@$sbom_ref" \
  | python3 -c 'import json,sys; l=json.load(sys.stdin)["layers"]; assert len(l)==1 and l[0]["mediaType"]=="application/vnd.cyclonedx+json", l; print(l[0]["digest"])') \
  || fail "the SBOM referrer's manifest"
[ "$sbom_layer" = "sha256:$(sha256sum < "$run/release/sbom.cdx.json" | cut -d' ' -f1)" ] || fail "the SBOM referrer is not the image's SBOM"
echo "verified: image $IMAGE, chart $CHART_DIGEST, SBOM referrer $sbom_ref" >&2

step "previous image: $prev_ref"
prev_sha=$(git -C "$repo" rev-parse --verify "$prev_ref^{commit}") || fail "no commit $prev_ref"
prev_tree=$run/prev-src
git -C "$repo" worktree add --detach "$prev_tree" "$prev_sha" >/dev/null 2>&1 || fail "git worktree add $prev_ref"
t0=$(date +%s)
# A target directory of its own: cargo hashes workspace packages by their path relative to the
# workspace root, so two checkouts sharing one target directory overwrite each other's binary
# and the older one then looks fresh. Only new worktrees (newer files) build in this one, so it
# can be kept in the machine's cache across runs and clones: only the first run builds the deps.
prev_target=${APPLINK_E2E_PREVIOUS_TARGET:-${APPLINK_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/applink-e2e}/cargo-target-previous}
prev_digest=$(IMAGE_SRC=$prev_tree CARGO_TARGET_DIR=$prev_target \
  "$here/build-image.sh" operator --out "$run/images/previous")
echo "built previous $prev_digest in $(( $(date +%s) - t0 ))s" >&2
crane push --insecure "$run/images/previous" "$registry/applink-operator:previous" >/dev/null
crane validate --remote "$registry/applink-operator:previous" >&2
[ "$prev_digest" != "$digest" ] || fail "the previous image equals the current one (nothing to upgrade)"

step "simulated applications (reachable from pods at 10.88.0.1)"
sim=$repo/e2e/simulator/target/release/applink-sim
[ -x "$sim" ] || (cd "$repo/e2e/simulator" && cargo build --release --bin applink-sim >&2)
mkdir -p "$run/sim"
cat > "$run/sim/apps.yaml" <<'YAML'
control_port: 0
apps:
- {name: jira, product: jira, port: 0, host: 10.88.0.1, key_bits: 1024}
- {name: confluence, product: confluence, port: 0, host: 10.88.0.1, key_bits: 1024}
- name: bitbucket
  product: bitbucket
  port: 0
  host: 10.88.0.1
  key_bits: 1024
  users:
  - {username: admin, password: admin, role: sysadmin, tokens: [bitbucket-admin-token]}
- {name: bamboo, product: bamboo, port: 0, host: 10.88.0.1, key_bits: 1024}
- {name: status-page, product: generic, port: 0, host: 10.88.0.1, key_bits: 1024}
YAML
"$sim" --config "$run/sim/apps.yaml" --ready-file "$run/sim/ready.json" >/dev/null 2>"$run/logs/sim.log" &
sim_pid=$!
wait_for "the simulator" 60 test -s "$run/sim/ready.json"
control=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["controlUrl"])' "$run/sim/ready.json")
# The examples with the demo's URLs (e2e/demo-apps.yaml's ports) replaced by the simulator's.
mkdir -p "$run/examples"
sed_args=$(python3 - "$run/sim/ready.json" <<'PY'
import json, sys
apps = {a["name"]: a["baseUrl"] for a in json.load(open(sys.argv[1]))["apps"]}
ports = {"jira": 18080, "confluence": 18090, "bitbucket": 17990, "bamboo": 18085, "status-page": 18100}
print(" ".join(f"-e s#http://127.0.0.1:{p}#{apps[n]}#g" for n, p in ports.items()))
PY
)
for f in "$repo"/examples/*.yaml; do
  # shellcheck disable=SC2086
  sed $sed_args "$f" > "$run/examples/$(basename "$f")"
done
! grep -q '127.0.0.1' "$run/examples"/*.yaml || fail "an example URL was not rewritten"
# Pods reach the simulator at 10.88.0.1 over plain HTTP, which is not loopback: the instances
# with credentials must opt in (the upgrade notes' step 2).
sed -i '/^  url: http:\/\/10\.88\.0\.1/a\  allowPlainHttp: true' "$run/examples/instances.yaml"
grep -q 'allowPlainHttp: true' "$run/examples/instances.yaml" || fail "allowPlainHttp not added"

writes() { # write requests (POST/PUT/PATCH/DELETE) the applications received, all apps summed
  python3 - "$control" <<'PY'
import json, sys, urllib.request
ctl = sys.argv[1]
apps = json.load(urllib.request.urlopen(ctl + "/_sim/apps"))
names = [a["name"] for a in (apps["apps"] if isinstance(apps, dict) else apps)]
n = 0
for name in names:
    log = json.load(urllib.request.urlopen(f"{ctl}/_sim/apps/{name}/log"))
    for route, count in log["counts"].items():
        if route.split(" ", 1)[0] in ("POST", "PUT", "PATCH", "DELETE") and "/_sim/" not in route:
            n += count
print(n)
PY
}
links_ready() { # every link Ready=True
  local out; out=$(kubectl -n "$apps_ns" get applinks -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  [ -n "$out" ] && ! grep -qv '=True$' <<<"$out"
}

release_sets=(--set leaderElection.enabled=true --set replicaCount=2 --set linkResyncInterval=30s
              --set instanceCheckInterval=30s)
common_sets=(--set "image.repository=$registry/applink-operator" "${release_sets[@]}")

step "helm install the previous chart and image ($prev_ref), 2 replicas, leader election"
helm install "$release" "$prev_tree/charts/applink-operator" -n "$ns" --create-namespace \
  "${common_sets[@]}" --set "image.digest=$prev_digest" --wait --timeout 180s >&2
kubectl create namespace "$apps_ns" >/dev/null
# --validate=false: a previous CRD without allowPlainHttp prunes it instead of refusing.
kubectl -n "$apps_ns" apply --validate=false -f "$run/examples/instances.yaml" -f "$run/examples/jira-confluence.yaml" \
  -f "$run/examples/jira-bitbucket-impersonation.yaml" -f "$run/examples/jira-to-external-url.yaml" >&2
wait_for "every link Ready under the previous operator" 180 links_ready

step "helm upgrade to the current chart and image: no write request, links stay Ready"
before=$(writes)
transitions0=$(kubectl -n "$ns" get lease applink-operator -o jsonpath='{.spec.leaseTransitions}')
# Helm never upgrades CRDs: apply the release's first, from the pulled chart, as docs/install.md says.
helm pull "$CHART" --version "$version" --plain-http --untar --untardir "$run/pulled" >&2
kubectl apply --server-side --force-conflicts -f "$run/pulled/applink-operator/crds/" >&2
# The upgrade notes: instances reached over plain HTTP opt in (kept if already set).
for i in $(kubectl -n "$apps_ns" get applicationinstances -o name); do
  kubectl -n "$apps_ns" patch "$i" --type=merge -p '{"spec":{"allowPlainHttp":true}}' >/dev/null
done
instances_observed() { # every instance's latest spec checked and Ready
  local out; out=$(kubectl -n "$apps_ns" get applicationinstances -o jsonpath='{range .items[*]}{.metadata.generation}={.status.observedGeneration}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  [ -n "$out" ] && ! awk -F= '$1 != $2 || $3 != "True"' <<<"$out" | grep -q .
}
wait_for "the instances re-checked after the opt-in" 120 instances_observed
wait_for "every link Ready after the opt-in" 120 links_ready
old_pods=$(kubectl -n "$ns" get pods -l "app.kubernetes.io/instance=$release,pod-template-hash" -o jsonpath='{.items[*].metadata.name}')
# The released chart's own defaults name the image: by digest, in this registry.
helm upgrade "$release" "$CHART" --version "$version" --plain-http -n "$ns" "${release_sets[@]}" \
  --wait --timeout 300s >"$run/helm-upgrade.log" 2>&1 &
upgrade_pid=$!
not_ready_samples=0
while kill -0 "$upgrade_pid" 2>/dev/null; do
  links_ready || not_ready_samples=$((not_ready_samples + 1))
  sleep 1
done
wait "$upgrade_pid" || { cat "$run/helm-upgrade.log" >&2; fail "helm upgrade"; }
[ "$not_ready_samples" = 0 ] || fail "a link was not Ready during the upgrade ($not_ready_samples samples)"
new_pods() { kubectl -n "$ns" get pods -l "app.kubernetes.io/instance=$release,pod-template-hash" --field-selector=status.phase=Running \
  -o jsonpath='{range .items[*]}{.metadata.name} {.spec.containers[0].image}{"\n"}{end}'; }
only_new_pods() {
  [ "$(new_pods | grep -c "@$digest$")" = 2 ] \
    && [ "$(kubectl -n "$ns" get pods -l "app.kubernetes.io/instance=$release,pod-template-hash" -o name | wc -l)" = 2 ]
}
wait_for "only the two new pods" 120 only_new_pods
holder() { kubectl -n "$ns" get lease applink-operator -o jsonpath='{.spec.holderIdentity}'; }
new_names=$(new_pods | awk '{print $1}')
new_pod_holds_lease() { grep -qx "$(holder)" <<<"$new_names"; }
wait_for "a new pod holding the lease" 60 new_pod_holds_lease
h=$(holder)
for p in $old_pods; do grep -qx "$p" <<<"$new_names" && fail "old pod $p still runs"; done
transitions1=$(kubectl -n "$ns" get lease applink-operator -o jsonpath='{.spec.leaseTransitions}')
[ "$transitions1" -gt "$transitions0" ] || fail "lease transitions $transitions0 -> $transitions1"
restarts=$(kubectl -n "$ns" get pods -l "app.kubernetes.io/instance=$release,pod-template-hash" -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{"\n"}{end}' | sort -u)
[ "$restarts" = 0 ] || fail "a new pod restarted: $restarts"
# The new leader has verified every link (a full resync) before we count again.
leader_ip=$(kubectl -n "$ns" get pod "$h" -o jsonpath='{.status.podIP}')
link_count=$(kubectl -n "$apps_ns" get applinks -o name | wc -l)
reconciled_links() {
  local n; n=$(curl -fsS "http://$leader_ip:8080/metrics" | awk '/^applink_reconciles_total\{kind="ApplicationLink",result="ok"\}/ {print $2}')
  [ "${n:-0}" -ge "$link_count" ]
}
wait_for "the new leader to verify every link" 120 reconciled_links
links_ready || fail "links not Ready after the upgrade"
after=$(writes)
[ "$after" = "$before" ] || fail "the applications received $((after - before)) write request(s) during/after the upgrade"
echo "upgrade: $before writes before, $after after; lease $transitions0 -> $transitions1 transitions; leader $h" >&2

step "the current release: image from the loopback registry, readiness, JSON logs, metrics"
for p in $new_names; do
  image_id=$(kubectl -n "$ns" get pod "$p" -o jsonpath='{.status.containerStatuses[0].imageID}')
  [[ "$image_id" == *"$registry/applink-operator@$digest" ]] || fail "pod $p runs $image_id"
  [ "$(kubectl -n "$ns" get pod "$p" -o jsonpath='{.spec.nodeName}')" = applink-e2e-node ] || fail "pod $p not on the node"
  [ "$(kubectl -n "$ns" get pod "$p" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] || fail "pod $p not Ready"
done
kubectl -n "$ns" logs "$h" > "$run/leader.log"
python3 - "$run/leader.log" <<'PY' || fail "kubectl logs is not JSON lines"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
docs = [json.loads(l) for l in lines]
assert any("starting applink-operator" in json.dumps(d) for d in docs), "no start line"
PY
curl -fsS "http://$leader_ip:8080/readyz" >/dev/null || fail "/readyz on the pod"
metrics=$(curl -fsS "http://$leader_ip:8080/metrics")
grep -q '^applink_caches_synced 1' <<<"$metrics" || fail "applink_caches_synced is not 1 on the leader"
# Not through the kubectl wrapper: --request-timeout adds ?timeout= to a raw path, and the
# operator's endpoint matches the exact target (/metrics?timeout=30s answers 404).
svc_metrics=$(timeout 60 "$run/bin/kubectl" --kubeconfig "$run/kubeconfig" get --raw "/api/v1/namespaces/$ns/services/$release-applink-operator-metrics:metrics/proxy/metrics")
# Either pod answers: the standby has not synced its caches (applink_caches_synced 0).
grep -q '^applink_build_info{' <<<"$svc_metrics" || fail "metrics through the Service"
# A link created now is reconciled to Ready by the current image.
kubectl -n "$apps_ns" apply -f "$run/examples/confluence-bamboo-oneway.yaml" >&2
wait_for "the new link Ready" 120 links_ready

step "helm test (passes; and fails once the operator has no ready replica)"
helm test "$release" -n "$ns" --timeout 120s >&2 \
  || { kubectl -n "$ns" logs "$release-applink-operator-test" >&2; fail "helm test"; }
kubectl -n "$ns" scale deployment "$release-applink-operator" --replicas=0 >&2
# The Deployment's pods (the helm test pod carries the release's labels too, not this one).
no_pods() { [ -z "$(kubectl -n "$ns" get pods -l "app.kubernetes.io/instance=$release,pod-template-hash" -o name)" ]; }
wait_for "the operator scaled to zero" 120 no_pods
! helm test "$release" -n "$ns" --timeout 120s >"$run/helm-test-negative.log" 2>&1 \
  || fail "helm test passed with no operator running"
grep -q "has no ready replica" <(kubectl -n "$ns" logs "$release-applink-operator-test") \
  || fail "the failed helm test does not say why"
kubectl -n "$ns" delete pod "$release-applink-operator-test" --wait=true >&2
kubectl -n "$ns" scale deployment "$release-applink-operator" --replicas=2 >&2
kubectl -n "$ns" rollout status deployment "$release-applink-operator" --timeout=120s >&2

step "helm uninstall: CRDs and links stay, the applications untouched"
before=$(writes)
links_before=$(kubectl -n "$apps_ns" get applinks -o name | sort)
helm uninstall "$release" -n "$ns" --wait --timeout 120s >&2
wait_for "the operator's pods gone" 120 no_pods
[ -z "$(kubectl -n "$ns" get pods -o name)" ] || fail "pods left in $ns after uninstall"
kubectl get crd applicationinstances.applinks.io applicationlinks.applinks.io >/dev/null || fail "CRDs removed"
[ "$(kubectl -n "$apps_ns" get applinks -o name | sort)" = "$links_before" ] || fail "links changed"
[ "$(writes)" = "$before" ] || fail "the applications received write requests on uninstall"

step "a new user: helm install oci://$registry/charts/applink-operator --version $version (defaults)"
helm install fresh "$CHART" --version "$version" --plain-http -n fresh --create-namespace \
  --wait --timeout 180s >&2 || fail "helm install from the registry"
fresh_image=$(kubectl -n fresh get pods -l app.kubernetes.io/instance=fresh,pod-template-hash \
  -o jsonpath='{.items[0].status.containerStatuses[0].imageID}')
[[ "$fresh_image" == *"$IMAGE" ]] || fail "the installed pod runs $fresh_image, not $IMAGE"
helm uninstall fresh -n fresh --wait --timeout 120s >&2

step "a user without Helm: kubectl apply --server-side -f install.yaml"
kubectl apply --server-side -f "$run/release/install.yaml" >&2
kubectl -n applink-system rollout status deployment applink-operator --timeout=180s >&2 \
  || fail "install.yaml's Deployment did not become available"
manifest_image=$(kubectl -n applink-system get pods -l app.kubernetes.io/instance=applink-operator,pod-template-hash \
  -o jsonpath='{.items[0].status.containerStatuses[0].imageID}')
[[ "$manifest_image" == *"$IMAGE" ]] || fail "install.yaml's pod runs $manifest_image, not $IMAGE"

step "passed in $(( $(date +%s) - t_start ))s"

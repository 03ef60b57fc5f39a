#!/usr/bin/env bash
# Benchmark: one Confluence linked from N Jiras, the whole life cycle. Starts N+1 simulated
# applications and the operator (release build) in a fresh namespace of a RUNNING control plane
# ($KUBECONFIG, e.g. after `e2e/control-plane.sh up`), applies N two-way OAuth links, waits until
# all are Ready, then deletes the links and waits until every link end is gone. Prints the
# request counts the applications saw (counts are the figure to compare; time it from outside,
# e.g. with farm-bench, to compare settings side by side).
#
#   e2e/bench-links.sh [N=20] [MAX_REQUESTS_PER_APPLICATION=4]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-20}
conc=${2:-4}
kubectl=${APPLINK_E2E_BIN:-$repo/.e2e-run/bin}/kubectl
: "${KUBECONFIG:?set KUBECONFIG to a running control plane (e2e/control-plane.sh up)}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; cp "$work/operator.log" "${TMPDIR:-/tmp}/bench-links-operator.log" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

{ echo "control_port: 0"; echo "apps:"; echo "- {name: confluence, product: confluence, key_bits: 1024}";
  for i in $(seq 1 "$n"); do echo "- {name: jira-$i, product: jira, key_bits: 1024}"; done; } > "$work/apps.yaml"
"$repo/e2e/simulator/target/release/applink-sim" --config "$work/apps.yaml" --ready-file "$work/ready.json" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do [ -s "$work/ready.json" ] && break; sleep 0.05; done

ns=bench-$$
"$kubectl" create namespace "$ns" >/dev/null
"$repo/target/release/applink-operator" --namespace "$ns" --max-requests-per-application "$conc" \
  --link-resync-interval 10m --instance-check-interval 10m ${BENCH_OPERATOR_ARGS:-} >"$work/operator.log" 2>&1 &
pids+=($!)

python3 - "$work/ready.json" "$n" > "$work/objects.yaml" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); n = int(sys.argv[2])
for a in doc["apps"]:
    name = a["name"]
    print(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-admin, annotations: {{applinks.io/allowed-urls: '{a['baseUrl']}'}}}}\nstringData: {{username: admin, password: admin}}\n---")
    print(f"apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: {name}}}\nspec: {{url: {a['baseUrl']}, credentialsSecretRef: {{name: {name}-admin}}}}\n---")
for i in range(1, n + 1):
    print(f"apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: jira-{i}}}\nspec: {{source: {{instanceRef: {{name: jira-{i}}}}}, target: {{instanceRef: {{name: confluence}}}}}}\n---")
PY
"$kubectl" -n "$ns" apply -f "$work/objects.yaml" >/dev/null
"$kubectl" -n "$ns" wait --for=condition=Ready applinks --all --timeout=300s >/dev/null

control=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["controlUrl"])' "$work/ready.json")
counts() {
  python3 - "$control" "$n" ${BENCH_DETAIL:+detail} <<'PY'
import json, sys, urllib.request
control, n = sys.argv[1], int(sys.argv[2])
def total(app):
    s = json.load(urllib.request.urlopen(f"{control}/_sim/apps/{app}/state"))
    return sum(s["requestCounts"].values()), len(s["links"])
conf, conf_links = total("confluence")
jiras = [total(f"jira-{i}") for i in range(1, n + 1)]
if len(sys.argv) > 3:
    s = json.load(urllib.request.urlopen(f"{control}/_sim/apps/confluence/state"))
    print(json.dumps(s["requestCounts"]), file=sys.stderr)
print(f"confluence_requests={conf} confluence_links={conf_links} jira_requests={sum(j[0] for j in jiras)} requests_per_link={(conf + sum(j[0] for j in jiras)) / n:.1f}")
PY
}
echo "ready: links=$n max_requests_per_application=$conc $(counts)"
[ -n "${BENCH_PAUSE:-}" ] && sleep "$BENCH_PAUSE" && echo "after ${BENCH_PAUSE}s: $(counts)"
"$kubectl" -n "$ns" delete applinks --all --wait=true --timeout=300s >/dev/null
echo "deleted: $(counts)"
if [ -n "${BENCH_LOG:-}" ]; then curl -s "$control/_sim/apps/confluence/log" > "$BENCH_LOG"; fi
"$kubectl" -n "$ns" delete applicationinstances --all --wait=true --timeout=300s >/dev/null
"$kubectl" delete namespace "$ns" --wait=false >/dev/null

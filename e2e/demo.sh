#!/usr/bin/env bash
# The demo, end to end: a real local control plane, the CRDs, simulated Atlassian applications
# (e2e/demo-apps.yaml), the operator, and the manifests in examples/ applied with kubectl; then
# shows the links becoming Ready and what the applications themselves report. Leaves everything
# running until Enter (or stops at once with APPLINK_DEMO_EXIT=1), then stops it all.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export APPLINK_E2E_RUN=${APPLINK_E2E_RUN:-$repo/.e2e-run}
mkdir -p "$APPLINK_E2E_RUN/logs"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$repo/e2e/control-plane.sh" down
}
trap cleanup EXIT

echo "==> building the operator and the simulator"
cargo build --bins -q
(cd e2e/simulator && cargo build --release -q --bin applink-sim)

"$repo/e2e/control-plane.sh" up
export KUBECONFIG=$APPLINK_E2E_RUN/kubeconfig
kubectl=$APPLINK_E2E_RUN/bin/kubectl

echo "==> starting the simulated applications (e2e/demo-apps.yaml)"
rm -f "$APPLINK_E2E_RUN/sim-ready.json"
e2e/simulator/target/release/applink-sim --config e2e/demo-apps.yaml \
  --ready-file "$APPLINK_E2E_RUN/sim-ready.json" >/dev/null 2>"$APPLINK_E2E_RUN/logs/simulator.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$APPLINK_E2E_RUN/sim-ready.json" ] && break; sleep 0.1; done
[ -s "$APPLINK_E2E_RUN/sim-ready.json" ] || { echo "simulator did not start; see $APPLINK_E2E_RUN/logs/simulator.log"; exit 1; }

echo "==> installing the CRDs"
"$kubectl" apply -f crds/
"$kubectl" wait --for condition=Established crd/applicationinstances.applinks.io crd/applicationlinks.applinks.io --timeout=60s

echo "==> starting the operator (logs: $APPLINK_E2E_RUN/logs/operator.log)"
target/debug/applink-operator --link-resync-interval 30s >"$APPLINK_E2E_RUN/logs/operator.log" 2>&1 &
operator_pid=$!
pids+=($operator_pid)

echo "==> kubectl apply -f examples/"
"$kubectl" apply -f examples/

echo "==> an invalid manifest is refused at admission:"
"$kubectl" apply -f examples/invalid/same-source-and-target.yaml || true

echo "==> waiting for every link to be Ready"
"$kubectl" wait --for=condition=Ready applinks --all --timeout=120s

echo "==> kubectl get applicationinstances,applinks -o wide"
"$kubectl" get applicationinstances,applinks -o wide

echo "==> an ExternalApplication: Eclipse Che trusted by Bitbucket through OAuth 2.0"
"$kubectl" apply -f examples/external/che-bitbucket-oauth2.yaml
"$kubectl" wait --for=condition=Ready externalapplications --all --timeout=60s
"$kubectl" get externalapplications -o wide
echo "    the Secret Che reads (keys only; the values stay in the Secret):"
"$kubectl" get secret bitbucket-oauth-config -o go-template='    labels: {{.metadata.labels}}{{"\n"}}    keys:{{range $k, $v := .data}} {{$k}}{{end}}{{"\n"}}'

echo "==> Jira's own status API for its link to Confluence:"
conf_id=$("$kubectl" get applicationinstance confluence -o jsonpath='{.status.applicationId}')
curl -fsS -u admin:admin -H 'Accept: application/json' "http://127.0.0.1:18080/rest/applinks/3.0/status/$conf_id"
echo

echo
echo "operator resident memory: $(( $(ps -o rss= -p "$operator_pid") / 1024 )) MiB (debug build)"
echo "KUBECONFIG=$KUBECONFIG   (try: $kubectl describe applink confluence-bamboo)"
if [ "${APPLINK_DEMO_EXIT:-0}" != 1 ] && [ -t 0 ]; then
  read -r -p "Press Enter to stop the demo..." _
fi

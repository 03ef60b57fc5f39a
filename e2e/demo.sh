#!/usr/bin/env bash
# The demo: a real local control plane, the CRDs, the simulated applications, the operator, and
# the examples applied; then shows the links. Leaves everything running until Enter (or exits at
# once with APPLINK_DEMO_EXIT=1), then stops it all.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export APPLINK_E2E_RUN=${APPLINK_E2E_RUN:-$repo/.e2e-run}

cleanup() { "$repo/e2e/control-plane.sh" down; }
trap cleanup EXIT
"$repo/e2e/control-plane.sh" up
export KUBECONFIG=$APPLINK_E2E_RUN/kubeconfig
kubectl=$APPLINK_E2E_RUN/bin/kubectl

echo "==> installing the CRDs"
"$kubectl" apply -f crds/
"$kubectl" wait --for condition=Established crd/applicationinstances.applinks.io crd/applicationlinks.applinks.io --timeout=60s

echo "==> applying the examples"
"$kubectl" apply -f examples/

echo "==> an invalid manifest is refused at admission:"
"$kubectl" apply -f examples/invalid/same-source-and-target.yaml || true

echo "==> kubectl get applicationinstances,applinks"
"$kubectl" get applicationinstances,applinks -o wide

echo
echo "KUBECONFIG=$KUBECONFIG"
if [ "${APPLINK_DEMO_EXIT:-0}" != 1 ] && [ -t 0 ]; then
  read -r -p "Press Enter to stop the demo..." _
fi

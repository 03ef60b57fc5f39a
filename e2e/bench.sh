#!/usr/bin/env bash
# The links benchmark (docs/performance.md): the operator against a sequential script and the
# lower bound, N tenants x (Jira, Confluence, Bitbucket) in a triangle, L ms latency.
#
#   e2e/bench.sh [--tenants 100] [--latency-ms 20] [--steady-seconds 60] [--skip-script] [-- OPERATOR FLAGS]
#
# Uses the control plane of $KUBECONFIG if set (with $APPLINK_E2E_BIN), else starts its own and
# stops it on exit. Builds the release binaries first. Not part of the test command: it prints
# figures to read, it asserts none.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cargo build --release --bin applink-operator
(cd e2e/simulator && cargo build --release --bin applink-sim)
if [ -z "${KUBECONFIG:-}" ]; then
  export APPLINK_E2E_RUN=$(mktemp -d "${TMPDIR:-/tmp}/applink-bench.XXXXXX")
  trap '"$repo/e2e/control-plane.sh" down' EXIT
  "$repo/e2e/control-plane.sh" up
  export KUBECONFIG=$APPLINK_E2E_RUN/kubeconfig APPLINK_E2E_BIN=$APPLINK_E2E_RUN/bin
fi
: "${APPLINK_E2E_BIN:?set APPLINK_E2E_BIN to the bin directory of the control plane (with kubectl)}"
"$APPLINK_E2E_BIN/kubectl" apply --server-side -f crds/ >/dev/null
"$APPLINK_E2E_BIN/kubectl" wait --for=condition=Established crd --all --timeout=60s >/dev/null
python3 e2e/bench/bench.py "$@"

#!/usr/bin/env bash
# The project's test command: formatting, lints, unit tests, then integration tests against a
# REAL local control plane (etcd + kube-apiserver + kube-controller-manager, built from Go modules
# and cached) and the simulated Atlassian applications. The control plane is stopped on exit,
# also when a test fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all --check
(cd e2e/simulator && cargo fmt --check)

step "lint"
cargo clippy --all-targets -- -D warnings
(cd e2e/simulator && cargo clippy --all-targets -- -D warnings)

step "unit tests (operator)"
cargo test --lib --bins

step "simulator tests"
(cd e2e/simulator && cargo test)

step "local control plane"
export APPLINK_E2E_RUN=${APPLINK_E2E_RUN:-$(mktemp -d "${TMPDIR:-/tmp}/applink-e2e.XXXXXX")}
trap '"$repo/e2e/control-plane.sh" down' EXIT
"$repo/e2e/control-plane.sh" up
export KUBECONFIG=$APPLINK_E2E_RUN/kubeconfig
export APPLINK_E2E_BIN=$APPLINK_E2E_RUN/bin

step "integration tests (real kube-apiserver)"
cargo build --bins
(cd e2e/simulator && cargo build --release --bin applink-sim)
cargo test --test '*' -- --test-threads=4

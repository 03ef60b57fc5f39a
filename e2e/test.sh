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

step "supply chain (cargo deny: advisories, licenses, sources; offline)"
# The RustSec snapshot in shared/ beside the repository (CI gets a copy of shared/ next to its
# clone); APPLINK_ADVISORY_DB points elsewhere. Results are only as fresh as its date.
advisory_src=${APPLINK_ADVISORY_DB:-$repo/../shared/advisory-db}
if [ ! -d "$advisory_src/crates" ]; then
  echo "no RustSec advisory database at $advisory_src: put the snapshot there (shared/advisory-db) or set APPLINK_ADVISORY_DB to one" >&2
  exit 1
fi
command -v cargo-deny >/dev/null || {
  echo "cargo-deny is missing: run .ci/run, which installs the pinned version, or cargo install cargo-deny --locked --version <the one in .ci/run>" >&2
  exit 1
}
snapshot_date=$(sed -n 's/.*as of its commit `[0-9a-f]*` (\([0-9-]*\)).*/\1/p' "$advisory_src/README.md")
echo "advisories as of ${snapshot_date:-an unknown date} ($advisory_src)"
# cargo-deny opens the database as a git repository, in the directory it derives from deny.toml's
# db-urls (this name is cargo-deny 0.20's), and reads HEAD's date: a throwaway repository with
# the snapshot's date.
export APPLINK_ADVISORY_DBS=$(mktemp -d "${TMPDIR:-/tmp}/applink-advisory-dbs.XXXXXX")
db="$APPLINK_ADVISORY_DBS/advisory-db-3157b0e258782691"
cp -r "$advisory_src" "$db" && chmod -R u+w "$db"
git -C "$db" init -q && git -C "$db" add -A
GIT_AUTHOR_DATE="${snapshot_date:-1970-01-01}T00:00:00Z" GIT_COMMITTER_DATE="${snapshot_date:-1970-01-01}T00:00:00Z" \
  git -C "$db" -c user.name=ci -c user.email=ci@localhost commit -qm snapshot
for manifest in Cargo.toml e2e/simulator/Cargo.toml; do
  echo "-- $manifest"
  # --offline keeps cargo-deny off the network (no database fetch) and so also cargo metadata:
  # the locked crates of every platform are fetched from the registry first.
  cargo fetch --locked --manifest-path "$manifest" --quiet
  cargo deny --frozen --manifest-path "$manifest" --config "$repo/deny.toml" \
    check advisories licenses sources
done
rm -rf "$APPLINK_ADVISORY_DBS"

step "unit tests (operator)"
cargo test --lib --bins

step "simulator tests"
(cd e2e/simulator && cargo test)

step "Argo CD health checks and actions on gopher-lua (argocd/resource_customizations)"
# Go tools from pinned modules (e2e/tools), built once and cached like the control plane.
"$(e2e/build-tool.sh argocd-lua)" argocd/resource_customizations
# kstatus (sigs.k8s.io/cli-utils) reads the live objects of tests/e2e_gitops.rs; built here so
# that the integration tests find it cached.
e2e/build-tool.sh kstatus >/dev/null

step "promtool (the chart's alerts are unit-tested with it in tests/chart.rs)"
# Built once from its pinned Go module and cached; the test finds it there.
"$repo/e2e/build-tool.sh" promtool

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

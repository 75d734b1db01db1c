#!/usr/bin/env bash
# The quick start: builds dbalert, then polls the demo database twice. The first poll finds
# full tablespaces, deadlocks and a failed job and routes each to its owner's team; between
# the polls the data changes (demo.db -> demo-later.db), so the second poll resolves what was
# fixed and announces only the new deadlock. Messages print to the terminal as they would
# read in Slack (stdout receivers); nothing is sent anywhere.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# A first release build takes a few minutes (about five on two cores); cargo shows its progress.
echo "=== building dbalert (release); the first build takes a few minutes"
cargo build --release --manifest-path "$here/../../Cargo.toml"
dbalert="${CARGO_TARGET_DIR:-$here/../../target}/release/dbalert"
state_dir=$(mktemp -d)
trap 'rm -rf "$state_dir"' EXIT
export DBALERT_DEMO_STATE="$state_dir/state.db"

echo "=== poll 1: the demo database has problems"
DEMO_DB="$here/demo.db" "$dbalert" -c "$here/alerts.yaml" poll
echo "=== poll 2: ORDERS_DATA was cleaned up, the invoice job succeeded, a new deadlock happened"
DEMO_DB="$here/demo-later.db" "$dbalert" -c "$here/alerts.yaml" poll
echo "=== poll 3: nothing changed, so nothing is sent until repeat_interval (4h) passes"
DEMO_DB="$here/demo-later.db" "$dbalert" -c "$here/alerts.yaml" -v poll

# Helpers for tests/scripts/test_*.sh. Protocol: print "ok - name" / "not ok - name".
# BITNET_BUILD (default build) holds the CLI; BITNET_TEST_TMP is a fresh folder per script.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD="$ROOT/${BITNET_BUILD:-build}"
BITNET="$BUILD/bitnet"
TMP="${BITNET_TEST_TMP:-$(mktemp -d)}"
SCRIPT_NAME=$(basename "$0" .sh)

ok()     { echo "ok - $SCRIPT_NAME/$1"; }
not_ok() { echo "not ok - $SCRIPT_NAME/$1"; shift; [ $# -gt 0 ] && echo "    $*"; }
# check NAME COMMAND...: passes when the command exits 0
check()  { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n" "command failed: $*"; fi; }

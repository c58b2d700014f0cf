#!/usr/bin/env bash
# Builds and runs the whole test suite (Release), then prints one closing line: "tests: N passed, N failed, N skipped".
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RESULTS="$ROOT/artifacts/test-results"
rm -rf "$RESULTS"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet test "$ROOT/tests/Cleft.Tests/Cleft.Tests.csproj" -c Release \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" --results-directory "$RESULTS" "$@"
status=$?
TRX="$(ls "$RESULTS"/*.trx 2>/dev/null | head -1)"
if [[ -z "$TRX" ]]; then
  echo "tests: 0 passed, 1 failed (the test run produced no results; see the build output above)"
  exit 1
fi
counters="$(grep -o '<Counters [^>]*>' "$TRX" | head -1)"
get() { echo "$counters" | grep -o "$1=\"[0-9]*\"" | grep -o '[0-9]*'; }
total=$(get total); passed=$(get passed); failed=$(get failed); executed=$(get executed)
skipped=$(( total - executed ))
echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
if [[ "${passed:-0}" == "0" ]]; then exit 1; fi
exit $status

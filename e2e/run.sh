#!/bin/bash
# Runs nspawnctl's end-to-end scenarios on this machine, which needs no systemd
# of its own: installs the dependencies, builds nspawnctl, and runs the e2e
# tests (each boots a systemd test host in a network namespace). Everything it
# starts is torn down on exit, on Ctrl-C and on SIGTERM.
#
#   e2e/run.sh                  every scenario on bookworm (systemd 252), then the
#                               scenarios listed in e2e/matrix.txt on each suite
#                               of E2E_MATRIX_SUITES (default "trixie sid")
#   e2e/run.sh PATTERN          PATTERN (a go test -run regexp; default
#                               $E2E_PATTERN) on NSPAWNCTL_E2E_SUITE only
#                               (default bookworm), e.g.
#                               NSPAWNCTL_E2E_SUITE=sid e2e/run.sh TestRefusal
#
# Environment: E2E_TIMEOUT_MIN (default 60) bounds the whole run; E2E_SKIP_DEPS=1
# skips install-deps.sh; NSPAWNCTL_E2E_BIN, if set, is used instead of a fresh
# build; NSPAWNCTL_E2E_CACHE, _WORKDIR, _MIRROR and _SUITE as in e2e/README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cd "$repo"

pattern=${1:-${E2E_PATTERN:-}}
limit_min=${E2E_TIMEOUT_MIN:-60}
if ! [[ $limit_min =~ ^[0-9]+$ ]] || [ "$limit_min" -lt 5 ]; then
	echo "run.sh: E2E_TIMEOUT_MIN must be a whole number of minutes >= 5, not '$limit_min'" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: the e2e tests need root (network namespaces, systemd-nspawn)" >&2
	exit 2
fi

bindir=$(mktemp -d /tmp/nspawnctl-e2e-bin.XXXXXX)
test_pid=""
watchdog_pid=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	if [ -n "$watchdog_pid" ]; then
		kill "$watchdog_pid" 2>/dev/null || true
	fi
	if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
		# The tests tear their hosts down on SIGINT; give them a minute.
		echo "run.sh: stopping the tests (process group $test_pid)" >&2
		kill -INT -- "-$test_pid" 2>/dev/null || true
		for _ in $(seq 60); do
			kill -0 -- "-$test_pid" 2>/dev/null || break
			sleep 1
		done
		kill -KILL -- "-$test_pid" 2>/dev/null || true
	fi
	# Whatever a killed test binary could not remove (its owner is gone now).
	go run ./e2e/cleanup || rc=1
	rm -rf "$bindir"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ "${E2E_SKIP_DEPS:-0}" != 1 ]; then
	"$here/install-deps.sh"
fi

if [ -n "${NSPAWNCTL_E2E_BIN:-}" ]; then
	echo "run.sh: using the nspawnctl binary $NSPAWNCTL_E2E_BIN"
else
	echo "run.sh: building nspawnctl"
	CGO_ENABLED=0 go build -o "$bindir/nspawnctl" ./cmd/nspawnctl
	NSPAWNCTL_E2E_BIN="$bindir/nspawnctl"
fi
export NSPAWNCTL_E2E=1 NSPAWNCTL_E2E_BIN

deadline=$(($(date +%s) + limit_min * 60))

# run_suite SUITE PATTERN runs the matching scenarios on test hosts of SUITE,
# within what is left of the run's time limit. go test's own timeout is a
# safety net two minutes inside it; the tests end their waits a minute
# before that, so cleanups still run.
run_suite() {
	local suite=$1 pat=$2 left_min
	left_min=$(((deadline - $(date +%s)) / 60))
	if [ "$left_min" -lt 4 ]; then
		echo "run.sh: no time left for $suite (limit ${limit_min}m, E2E_TIMEOUT_MIN)" >&2
		return 1
	fi
	echo "run.sh: [$suite] go test ./e2e/... -run '$pat' (${left_min}m left)"
	local t0=$SECONDS
	NSPAWNCTL_E2E_SUITE=$suite setsid go test ./e2e/... -p 1 -count=1 -run "$pat" -v -timeout "$((left_min - 2))m" &
	test_pid=$!
	( sleep "$((left_min * 60))"; echo "run.sh: time limit of ${limit_min}m reached" >&2; kill -INT -- "-$test_pid" ) 2>/dev/null &
	watchdog_pid=$!
	local rc=0
	wait "$test_pid" || rc=$?
	kill "$watchdog_pid" 2>/dev/null || true
	test_pid="" watchdog_pid=""
	echo "run.sh: [$suite] exit $rc after $((SECONDS - t0)) s"
	return "$rc"
}

# matrix_pattern turns e2e/matrix.txt into an anchored -run regexp.
matrix_pattern() {
	local names
	names=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/matrix.txt" | paste -sd '|')
	echo "^(${names})\$"
}

set +e
status=0
if [ -n "$pattern" ]; then
	run_suite "${NSPAWNCTL_E2E_SUITE:-bookworm}" "$pattern" || status=1
else
	run_suite bookworm . || status=1
	for suite in ${E2E_MATRIX_SUITES-trixie sid}; do
		run_suite "$suite" "$(matrix_pattern)" || status=1
	done
fi
set -e
exit "$status"

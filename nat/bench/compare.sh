#!/bin/bash
# compare.sh: side-by-side measurement of port forwards, nspawnctl vs Podman's
# netavark 1.4 (iptables-nft, one DNAT rule per port), in ONE run.
#
# For each setup it measures the install time of K forwards and the
# new-connection rate (wrk, "Connection: close") through one forwarded port,
# client namespace -> host namespace -> container namespace:
#   nspawnctl  K=1 and K=$K_NSPAWNCTL (default 10000)
#   netavark   K=1 and K=$K_NETAVARK  (default 1000; its setup time grows
#              faster than K, about 75 s at 1000, so 10000 would take hours)
# The measured port is the last of netavark's rules (its worst case); for
# nspawnctl the position does not matter (one map lookup).
#
# Everything happens in network namespaces this script creates (never in the
# root namespace) and removes on exit, including on failure or Ctrl-C; every
# step is bounded by a timeout. Needs root and the Debian packages nftables
# iproute2 util-linux wrk podman netavark runc iptables, and Go to build.
#
# Environment: DUR (seconds per wrk run, 5), ROUNDS (alternations, 2),
# K_NSPAWNCTL, K_NETAVARK, NETAVARK (binary, /usr/lib/podman/netavark).
set -euo pipefail

DUR=${DUR:-5}
ROUNDS=${ROUNDS:-2}
K_NSPAWNCTL=${K_NSPAWNCTL:-10000}
K_NETAVARK=${K_NETAVARK:-1000}
NETAVARK=${NETAVARK:-/usr/lib/podman/netavark}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

die() { echo "compare.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it creates network namespaces)"
for t in ip nsenter nft wrk iptables go timeout; do
	command -v "$t" >/dev/null || die "missing $t: apt-get install -y nftables iproute2 util-linux wrk podman netavark runc iptables"
done
[ -x "$NETAVARK" ] || die "missing $NETAVARK: apt-get install -y netavark"

WORK=$(mktemp -d /tmp/nspawnctl-natbench.XXXXXX)
TAG=nb$$
PIDS=()
NSS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# building nspawnctl and the helper" >&2
(cd "$ROOT" && timeout 300 go build -o "$WORK/nspawnctl" ./cmd/nspawnctl && timeout 300 go build -o "$WORK/natbench" ./nat/bench/natbench)

inns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
mkns() { ip netns add "$1"; NSS+=("$1"); ip -n "$1" link set lo up; }

# topology NAME: NAME-h (host) with 203.0.113.2 towards NAME-c (client,
# 203.0.113.10), and an empty NAME-t for the container.
topology() {
	local n=$1
	mkns "$n-h"; mkns "$n-c"; mkns "$n-t"
	ip -n "$n-h" link add vc-client type veth peer name eth0 netns "$n-c"
	ip -n "$n-h" addr add 203.0.113.2/24 dev vc-client
	ip -n "$n-h" link set vc-client up
	ip -n "$n-c" addr add 203.0.113.10/24 dev eth0
	ip -n "$n-c" link set eth0 up
	ip -n "$n-c" route add default via 203.0.113.2
	# Short conntrack timeouts in the test's host namespace, or the TIME_WAIT
	# entries of earlier connections stall reused client ports.
	inns "$n-h" sysctl -q -w net.ipv4.ip_forward=1
	for s in time_wait=1 fin_wait=1 close_wait=1 close=1; do
		inns "$n-h" sysctl -q -w "net.netfilter.nf_conntrack_tcp_timeout_$s" || true
	done
	inns "$n-c" sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
	# Not in a command substitution: the script must track this PID itself.
	inns "$n-t" "$WORK/natbench" httpd :80 >>"$WORK/httpd.log" 2>&1 &
	PIDS+=($!)
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# nspawnctl_setup NAME K: a ve-web veth to the container and K forwards.
nspawnctl_setup() {
	local n=$1 k=$2
	topology "$n"
	ip -n "$n-h" link add ve-web type veth peer name host0 netns "$n-t"
	ip -n "$n-h" addr add 10.0.0.1/28 dev ve-web
	ip -n "$n-h" link set ve-web up
	ip -n "$n-t" addr add 10.0.0.2/28 dev host0
	ip -n "$n-t" link set host0 up
	ip -n "$n-t" route add default via 10.0.0.1
	"$WORK/natbench" forwards "$k" > "$WORK/$n.json"
	local t0 t1
	t0=$(now)
	timeout 120 "$WORK/nspawnctl" nat apply --from "$WORK/$n.json" --netns "/run/netns/$n-h" --state-dir "$WORK/state-$n" 2>>"$WORK/warnings.log"
	t1=$(now)
	LAST_INSTALL=$(elapsed "$t0" "$t1")
}

# netavark_setup NAME K: netavark's bridge, veth and K port mappings.
netavark_setup() {
	local n=$1 k=$2
	topology "$n"
	"$WORK/natbench" netavark "$k" > "$WORK/$n.json"
	mkdir -p "$WORK/nv-$n"
	local t0 t1
	t0=$(now)
	# No system bus: netavark must not talk to a firewalld of the machine.
	DBUS_SYSTEM_BUS_ADDRESS= NETAVARK_FW=iptables timeout 900 \
		nsenter --net="/run/netns/$n-h" "$NETAVARK" --config "$WORK/nv-$n" setup "/run/netns/$n-t" < "$WORK/$n.json" > "$WORK/nv-$n.out"
	t1=$(now)
	LAST_INSTALL=$(elapsed "$t0" "$t1")
}

# rate NAME: new connections per second from NAME-c through 203.0.113.2:8080.
rate() {
	local out
	out=$(inns "$1-c" timeout $((DUR + 30)) wrk -t2 -c16 -d"${DUR}s" -H "Connection: close" http://203.0.113.2:8080/ 2>&1) || { echo "wrk failed: $out" >&2; echo 0; return; }
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$out" | grep "errors\|Non-2xx" >&2; fi
	awk '/Requests\/sec/ { print $2 }' <<<"$out"
}

declare -A INSTALL RATE
echo "# setting up (netavark K=$K_NETAVARK takes about a minute)" >&2
LAST_INSTALL=
nspawnctl_setup "$TAG-n1" 1; INSTALL[n1]=$LAST_INSTALL
nspawnctl_setup "$TAG-nK" "$K_NSPAWNCTL"; INSTALL[nK]=$LAST_INSTALL
netavark_setup "$TAG-v1" 1; INSTALL[v1]=$LAST_INSTALL
netavark_setup "$TAG-vK" "$K_NETAVARK"; INSTALL[vK]=$LAST_INSTALL
inns "$TAG-nK-h" nft list map ip io.systemd.nat nspawnctl_dnat_any | grep -c ' : ' > "$WORK/nK.count"
inns "$TAG-vK-h" iptables -t nat -S | grep -c DNAT > "$WORK/vK.count" || true

# Alternate the cases so drift (CPU frequency, other load) hits all alike.
for r in $(seq "$ROUNDS"); do
	for c in n1 nK v1 vK; do
		v=$(rate "$TAG-$c")
		RATE[$c]="${RATE[$c]:-} $v"
		echo "# round $r $c: $v conn/s" >&2
	done
done

avg() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.0f", s / NF }' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
n1=$(avg "${RATE[n1]}"); nK=$(avg "${RATE[nK]}"); v1=$(avg "${RATE[v1]}"); vK=$(avg "${RATE[vK]}")
printf "\n%-10s %7s %12s %14s   %s\n" setup K install_s conn_per_s "rates per round"
printf "%-10s %7s %12s %14s  %s\n" nspawnctl 1 "${INSTALL[n1]}" "$n1" "${RATE[n1]}"
printf "%-10s %7s %12s %14s  %s\n" nspawnctl "$K_NSPAWNCTL" "${INSTALL[nK]}" "$nK" "${RATE[nK]}"
printf "%-10s %7s %12s %14s  %s\n" netavark 1 "${INSTALL[v1]}" "$v1" "${RATE[v1]}"
printf "%-10s %7s %12s %14s  %s\n" netavark "$K_NETAVARK" "${INSTALL[vK]}" "$vK" "${RATE[vK]}"
echo
echo "installed: nspawnctl map elements $(cat "$WORK/nK.count"), netavark DNAT rules $(cat "$WORK/vK.count")"
echo "ratio nspawnctl K=$K_NSPAWNCTL / K=1:   $(ratio "$nK" "$n1")"
echo "ratio netavark  K=$K_NETAVARK / K=1:    $(ratio "$vK" "$v1")"
echo "ratio nspawnctl K=$K_NSPAWNCTL / netavark K=$K_NETAVARK: $(ratio "$nK" "$vK")"
echo "ratio install time netavark K=$K_NETAVARK / nspawnctl K=$K_NSPAWNCTL: $(ratio "${INSTALL[vK]}" "${INSTALL[nK]}")"

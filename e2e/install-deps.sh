#!/bin/sh
# Installs the Debian packages the end-to-end harness needs on the machine that
# runs it (not inside the test host: mmdebstrap installs those).
# Idempotent: it calls apt-get only when a package is missing.
set -eu

packages="mmdebstrap systemd-container iproute2 curl nftables busybox-static util-linux ca-certificates debian-archive-keyring kea-dhcp6-server"
# nix-instantiate: TestNixOSBootOrder evaluates the NixOS module's units.
packages="$packages nix-bin"

missing=""
for p in $packages; do
	if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present ($packages)"
	exit 0
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing

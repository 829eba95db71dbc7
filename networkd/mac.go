package networkd

import (
	"encoding/binary"
	"net"
)

// The hash keys of systemd-nspawn's generate_mac() (net_generate_mac() since
// v256), one per kind of link, so the sides of a veth get different MACs.
var (
	macKeyHost           = [16]byte{0x1a, 0x37, 0x6f, 0xc7, 0x46, 0xec, 0x45, 0x0b, 0xad, 0xa3, 0xd5, 0x31, 0x06, 0x60, 0x5d, 0xb1}
	macKeyContainer      = [16]byte{0xc3, 0xc4, 0xf9, 0x19, 0xb5, 0x57, 0xb2, 0x1c, 0xe6, 0xcf, 0x14, 0x27, 0x03, 0x9c, 0xee, 0xa2}
	macKeyExtraHost      = [16]byte{0x48, 0xc7, 0xf6, 0xb7, 0xea, 0x9d, 0x4c, 0x9e, 0xb7, 0x28, 0xd4, 0xde, 0x91, 0xd5, 0xbf, 0x66}
	macKeyExtraContainer = [16]byte{0xaf, 0x50, 0x17, 0x61, 0xce, 0xf9, 0x4d, 0x35, 0x84, 0x0d, 0x2b, 0x20, 0x54, 0xbe, 0xce, 0x59}
	macKeyMacvlan        = [16]byte{0x00, 0x13, 0x6d, 0xbc, 0x66, 0x83, 0x44, 0x81, 0xbb, 0x0c, 0xf9, 0x51, 0x1f, 0x24, 0xa6, 0x6f}
)

// generateMAC mirrors nspawn's generate_mac(): SipHash-2-4 under key of
// machineID || machine || le64(idx) (idx only when non-zero), the first six
// bytes of the little-endian hash, made unicast and locally administered.
func generateMAC(key, machineID [16]byte, machine string, idx uint64) net.HardwareAddr {
	msg := make([]byte, 0, len(machineID)+len(machine)+8)
	msg = append(msg, machineID[:]...)
	msg = append(msg, machine...)
	if idx > 0 {
		msg = binary.LittleEndian.AppendUint64(msg, idx)
	}
	var h [8]byte
	binary.LittleEndian.PutUint64(h[:], siphash24(key, msg))
	mac := net.HardwareAddr(h[:6:6])
	mac[0] &^= 0x01 // unicast
	mac[0] |= 0x02  // locally administered
	return mac
}

// HostSideMAC returns the MAC address systemd-nspawn gives the host side of a
// machine's veth (ve-NAME or vb-NAME). machineID is the machine id of the host
// nspawn runs on (/etc/machine-id there, not the container's), and machine is
// the machine name as nspawn sees it (-M, including an ephemeral suffix).
// The result is stable across restarts, so a DHCP static lease can use it.
func HostSideMAC(machineID [16]byte, machine string) net.HardwareAddr {
	return generateMAC(macKeyHost, machineID, machine, 0)
}

// ContainerSideMAC returns the MAC address systemd-nspawn gives host0, the
// container side of a machine's veth, unless $SYSTEMD_NSPAWN_NETWORK_MAC
// (v255+) overrides it. Arguments as for HostSideMAC.
func ContainerSideMAC(machineID [16]byte, machine string) net.HardwareAddr {
	return generateMAC(macKeyContainer, machineID, machine, 0)
}

// MacvlanMAC returns the MAC address systemd-nspawn gives the idx-th
// (counting from 0, in the order of --network-macvlan=/MACVLAN=) macvlan link
// of machine. Arguments as for HostSideMAC.
func MacvlanMAC(machineID [16]byte, machine string, idx uint64) net.HardwareAddr {
	return generateMAC(macKeyMacvlan, machineID, machine, idx)
}

// VethExtraMACs returns the host and container side MAC addresses of the
// idx-th (from 0) --network-veth-extra=/VirtualEthernetExtra= pair of
// machine. Arguments as for HostSideMAC.
func VethExtraMACs(machineID [16]byte, machine string, idx uint64) (host, container net.HardwareAddr) {
	return generateMAC(macKeyExtraHost, machineID, machine, idx), generateMAC(macKeyExtraContainer, machineID, machine, idx)
}

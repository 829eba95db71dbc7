package networkd

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// MachineIDPath is where the host's machine id lives.
const MachineIDPath = "/etc/machine-id"

// ULAAppID is nspawnctl's application id for deriving values from the
// machine id (as sd_id128_get_machine_app_specific() does), so that what we
// publish, such as the ULA prefix, does not reveal the machine id itself.
// It was generated once at random and must never change: changing it would
// renumber every host's containers.
var ULAAppID = [16]byte{0x99, 0x1f, 0x2f, 0xeb, 0x9f, 0x57, 0x48, 0xff, 0x9c, 0xfb, 0x48, 0x89, 0xd1, 0xc7, 0xb3, 0x95}

// ParseMachineID parses a machine id in the format of /etc/machine-id: 32
// hexadecimal digits, optionally followed by one newline. The all-zero id is
// rejected, as systemd does, since it means "not initialized".
func ParseMachineID(s string) ([16]byte, error) {
	var id [16]byte
	t := s
	if len(t) == 33 && t[32] == '\n' {
		t = t[:32]
	}
	if len(t) != 32 || strings.ContainsAny(t, "\n\r\t ") {
		if t == "uninitialized" || t == "uninitialized\n" {
			return id, fmt.Errorf("machine id is %q: the system has not finished its first boot; boot it once or run systemd-machine-id-setup", "uninitialized")
		}
		return id, fmt.Errorf("machine id %q is not 32 hexadecimal digits and a newline; regenerate it with systemd-machine-id-setup", truncateForError(s))
	}
	if _, err := hex.Decode(id[:], []byte(t)); err != nil {
		return id, fmt.Errorf("machine id %q is not hexadecimal (%v); regenerate it with systemd-machine-id-setup", t, err)
	}
	if id == ([16]byte{}) {
		return id, fmt.Errorf("machine id is all zeros, which means it is not set; regenerate it with systemd-machine-id-setup")
	}
	return id, nil
}

// ReadMachineID reads and parses the machine id file at path, normally
// MachineIDPath.
func ReadMachineID(path string) ([16]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [16]byte{}, fmt.Errorf("read machine id: %w", err)
	}
	id, err := ParseMachineID(string(b))
	if err != nil {
		return id, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// truncateForError keeps error messages short when a file holds garbage.
func truncateForError(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// AppSpecificID derives an application specific id from machineID exactly as
// systemd's sd_id128_get_machine_app_specific() does (and hence as
// `systemd-id128 machine-id --app-specific=APP` prints): HMAC-SHA256 keyed
// with the machine id over appID, truncated to 16 bytes and marked as a
// version 4 UUID. It is one-way, so the result can be shown without exposing
// the machine id.
func AppSpecificID(machineID, appID [16]byte) [16]byte {
	mac := hmac.New(sha256.New, machineID[:])
	mac.Write(appID[:])
	var id [16]byte
	copy(id[:], mac.Sum(nil))
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id
}

// ULAPrefix returns the host's IPv6 Unique Local Address /48 (RFC 4193):
// fd00::/8 followed by a 40-bit Global ID. RFC 4193 asks for a pseudo-random
// Global ID computed once per site; we take the first 40 bits of the
// nspawnctl-specific id of the host's machine id (AppSpecificID with
// ULAAppID), which is pseudo-random, stable for the life of the host and
// recomputable without state, and does not reveal the machine id.
func ULAPrefix(machineID [16]byte) netip.Prefix {
	id := AppSpecificID(machineID, ULAAppID)
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:6], id[0:5])
	return netip.PrefixFrom(netip.AddrFrom16(a), 48)
}

package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// uplinkNetworkFiles finds, for each uplink, the .network file
// systemd-networkd applies to it, from networkd's own state file
// /run/systemd/netif/links/IFINDEX (NETWORK_FILE=, what networkctl status
// shows as "Network File"). The proxy NDP drop-in must be named after that
// file: networkd reads FILE.network.d/*.conf only for the file it applies.
func (m *Manager) uplinkNetworkFiles(uplinks []string) (map[string]string, error) {
	out := map[string]string{}
	for _, up := range uplinks {
		idx, err := os.ReadFile(m.host(filepath.Join("/sys/class/net", up, "ifindex")))
		if err != nil {
			return nil, fmt.Errorf("proxy_ndp: uplink %s is not an interface on this host (%v); name the interface the provider's /64 is on", up, err)
		}
		state := filepath.Join("/run/systemd/netif/links", strings.TrimSpace(string(idx)))
		b, err := os.ReadFile(m.host(state))
		if err != nil {
			return nil, fmt.Errorf("proxy_ndp: cannot read systemd-networkd's state of uplink %s (%s: %v); is systemd-networkd running?", up, state, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if f, ok := strings.CutPrefix(sc.Text(), "NETWORK_FILE="); ok && f != "" {
				out[up] = f
			}
		}
	}
	return out, nil
}

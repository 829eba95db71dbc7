package nebula

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.yaml.in/yaml/v3"
)

// CheckSidecarVersion refuses to start a sidecar whose config uses settings
// the installed nebula would silently ignore: nebula was downgraded, or
// replaced, since the config was rendered.
func CheckSidecarVersion(ctx context.Context, name, configPath, bin string) error {
	content, err := os.ReadFile(configPath)
	if err != nil {
		return fmt.Errorf("reading the nebula config of machine %s: %w; apply a configuration with a nebula block for it", name, err)
	}
	need, err := RequiredFromConfig(content)
	if err != nil {
		return fmt.Errorf("%s: %w; re-apply the configuration to rewrite it", configPath, err)
	}
	if bin == "" {
		if bin, err = FindBinary(); err != nil {
			return err
		}
	}
	have, err := DetectVersion(ctx, bin)
	if err != nil {
		return err
	}
	if need.IsZero() {
		need = MinVersion
	}
	if have.Less(need) {
		return fmt.Errorf("the nebula config of machine %s needs nebula %s or later (it uses settings older releases silently ignore), but %s is %s; upgrade nebula, or change the nebula block and apply", name, need, bin, have)
	}
	return nil
}

// QueryMachinePeers reads a machine's hostmap from its sidecar's console in
// the namespace bind-mounted at nsPath, with the keys apply wrote into the
// machine's config directory dir.
func QueryMachinePeers(ctx context.Context, dir, nsPath string) ([]Peer, error) {
	hostKey, err := os.ReadFile(filepath.Join(dir, ConsoleCredential))
	if err != nil {
		return nil, fmt.Errorf("no console key (%w): apply the configuration again with this nspawnctl and restart the machine's sidecar", err)
	}
	clientKey, err := os.ReadFile(filepath.Join(dir, "console.key"))
	if err != nil {
		return nil, fmt.Errorf("no console key (%w): apply the configuration again with this nspawnctl and restart the machine's sidecar", err)
	}
	return QueryPeers(ctx, nsPath, hostKey, clientKey)
}

// DeviceFromConfig reads tun.dev from a nebula config.yml; "" when the
// file is not YAML or names no device.
func DeviceFromConfig(conf []byte) string {
	var c struct {
		Tun struct {
			Dev string `yaml:"dev"`
		} `yaml:"tun"`
	}
	if yaml.Unmarshal(conf, &c) != nil {
		return ""
	}
	return c.Tun.Dev
}

// LinkIn describes device in the namespace bind-mounted at nsPath: "absent"
// when the sidecar is not running (or the machine is stopped).
func LinkIn(nsPath, device string) (string, []string) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return "no namespace (machine or sidecar not running)", nil
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "unknown: " + err.Error(), nil
	}
	defer h.Close()
	l, err := h.LinkByName(device)
	if err != nil {
		return "absent", nil
	}
	var addrs []string
	if as, err := h.AddrList(l, netlink.FAMILY_ALL); err == nil {
		for _, ad := range as {
			addrs = append(addrs, ad.IPNet.String())
		}
	}
	return l.Attrs().OperState.String(), addrs
}

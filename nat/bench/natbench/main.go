// Command natbench is the helper of nat/bench/compare.sh: a minimal HTTP
// server that closes every connection, and generators for the forwards
// given to nspawnctl and to netavark.
//
//	natbench httpd ADDR        serve "ok" on ADDR until killed
//	natbench forwards K        nspawnctl machines JSON: K forwards, tcp 8080 -> 10.0.0.2:80 among them
//	natbench netavark K        netavark 1.4 options JSON: K port mappings, tcp 8080 -> 80 last
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/nspawnctl/nspawnctl/nat"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: natbench httpd ADDR | forwards K | netavark K")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "httpd":
		err = httpd(os.Args[2])
	case "forwards", "netavark":
		var k int
		k, err = strconv.Atoi(os.Args[2])
		if err == nil && k < 1 {
			err = fmt.Errorf("K must be at least 1")
		}
		if err == nil {
			if os.Args[1] == "forwards" {
				err = json.NewEncoder(os.Stdout).Encode(forwards(k))
			} else {
				err = json.NewEncoder(os.Stdout).Encode(netavark(k))
			}
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "natbench:", err)
		os.Exit(1)
	}
}

// httpd answers each request with a fixed response and closes the
// connection, so every request of the client is a new connection.
func httpd(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil || line == "\r\n" || line == "\n" {
					break
				}
			}
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
		}()
	}
}

// forwards returns k wildcard forwards: the measured one (tcp 8080 to
// machine "web", 10.0.0.2:80 behind ve-web) and k-1 others on ports from
// 10000, spread over machines of 100 forwards with their own targets.
func forwards(k int) []nat.Machine {
	ms := []nat.Machine{{Name: "web", Link: "ve-web", Forwards: []nat.Forward{{
		Protocol: "tcp", HostPorts: nat.PortRange{First: 8080, Last: 8080},
		Target: netip.MustParseAddr("10.0.0.2"), TargetPorts: nat.PortRange{First: 80, Last: 80}}}}}
	for i := 0; i < k-1; i += 100 {
		n := min(100, k-1-i)
		m := nat.Machine{Name: fmt.Sprintf("other%03d", i/100), Link: fmt.Sprintf("ve-other%03d", i/100)}
		target := netip.AddrFrom4([4]byte{10, 1, byte(i / 100), 2})
		for j := 0; j < n; j++ {
			p := uint16(10000 + i + j)
			m.Forwards = append(m.Forwards, nat.Forward{Protocol: "tcp", HostPorts: nat.PortRange{First: p, Last: p}, Target: target, TargetPorts: nat.PortRange{First: 80, Last: 80}})
		}
		ms = append(ms, m)
	}
	return ms
}

type portMapping struct {
	HostIP        string `json:"host_ip"`
	ContainerPort int    `json:"container_port"`
	HostPort      int    `json:"host_port"`
	Range         int    `json:"range"`
	Protocol      string `json:"protocol"`
}

// netavark returns netavark's setup options for one container on the
// default podman bridge with k port mappings; the measured one (8080) is
// last, so it is matched by the last of netavark's per-port rules.
func netavark(k int) map[string]any {
	var pm []portMapping
	for i := 0; i < k-1; i++ {
		pm = append(pm, portMapping{ContainerPort: 80, HostPort: 10000 + i, Range: 1, Protocol: "tcp"})
	}
	pm = append(pm, portMapping{ContainerPort: 80, HostPort: 8080, Range: 1, Protocol: "tcp"})
	return map[string]any{
		"container_id":   "6ce776ea58b5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182930",
		"container_name": "bench",
		"port_mappings":  pm,
		"networks":       map[string]any{"podman": map[string]any{"interface_name": "eth0", "static_ips": []string{"10.88.0.2"}}},
		"network_info": map[string]any{"podman": map[string]any{
			"dns_enabled": false, "driver": "bridge", "internal": false, "ipv6_enabled": false, "name": "podman",
			"id":                "53ce4390f2adb1681eb1a90ec8b48c49c015e0a8d336c197637e7f65e365fa9e",
			"network_interface": "podman0",
			"subnets":           []map[string]string{{"gateway": "10.88.0.1", "subnet": "10.88.0.0/16"}},
		}},
	}
}

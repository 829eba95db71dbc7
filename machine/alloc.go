package machine

import (
	"net/netip"

	"github.com/nspawnctl/nspawnctl/networkd"
)

// allocSubnet allocates a subnet of size bits from pool for key, avoiding taken.
func allocSubnet(pool netip.Prefix, bits int, key string, taken []netip.Prefix) (netip.Prefix, error) {
	a, err := networkd.NewAllocator(pool, bits)
	if err != nil {
		return netip.Prefix{}, err
	}
	return a.Allocate(key, taken)
}

package lab

import "net/netip"

// Interface names inside the namespaces.
const (
	IfClient  = "eth0"  // client's and server's only interface
	IfInside  = "in0"   // a gateway's inside interface (towards the client)
	IfOutside = "out0"  // a gateway's outside interface (towards the server)
	IfSync    = "sync0" // the sync link between the gateways
	IfBridge  = "br0"   // the bridge in the lan and wan namespaces
	IfPair    = "veth0" // either end of UpPair's veth pair
)

// Addresses of the full lab. The inside network is 10.77.1.0/24 and
// fd77:1::/64, the outside 10.77.2.0/24 and fd77:2::/64, the sync link
// 10.77.3.0/24 and fd77:3::/64.
var (
	ClientAddr  = netip.MustParseAddr("10.77.1.10")
	ClientAddr6 = netip.MustParseAddr("fd77:1::10")
	ServerAddr  = netip.MustParseAddr("10.77.2.10")
	ServerAddr6 = netip.MustParseAddr("fd77:2::10")

	// InsideVIP and OutsideVIP are the virtual addresses the active gateway
	// holds; client and server route through them.
	InsideVIP   = netip.MustParseAddr("10.77.1.1")
	InsideVIP6  = netip.MustParseAddr("fd77:1::1")
	OutsideVIP  = netip.MustParseAddr("10.77.2.1")
	OutsideVIP6 = netip.MustParseAddr("fd77:2::1")

	// SNATAddr is the shared outside address the gateways translate to.
	SNATAddr = netip.MustParseAddr("10.77.2.100")

	GW1Inside  = netip.MustParseAddr("10.77.1.2")
	GW2Inside  = netip.MustParseAddr("10.77.1.3")
	GW1Outside = netip.MustParseAddr("10.77.2.2")
	GW2Outside = netip.MustParseAddr("10.77.2.3")
	GW1Sync    = netip.MustParseAddr("10.77.3.1")
	GW2Sync    = netip.MustParseAddr("10.77.3.2")

	GW1Inside6  = netip.MustParseAddr("fd77:1::2")
	GW2Inside6  = netip.MustParseAddr("fd77:1::3")
	GW1Outside6 = netip.MustParseAddr("fd77:2::2")
	GW2Outside6 = netip.MustParseAddr("fd77:2::3")
	GW1Sync6    = netip.MustParseAddr("fd77:3::1")
	GW2Sync6    = netip.MustParseAddr("fd77:3::2")

	// PairAddrA and PairAddrB are the two ends of UpPair's veth pair.
	PairAddrA = netip.MustParseAddr("10.78.0.1")
	PairAddrB = netip.MustParseAddr("10.78.0.2")
)

const (
	prefixLen4 = 24
	prefixLen6 = 64
)

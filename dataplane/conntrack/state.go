package conntrack

// State is a connection's tracking state: a TCP state in the spirit of
// netfilter's, or a pseudo-state for UDP, ICMP and other protocols.
type State uint8

// TCP states follow netfilter's names and meaning (nf_conntrack_proto_tcp.c).
const (
	StateNone         State = iota // no state (invalid as an entry state)
	StateSynSent                   // SYN seen in the original direction
	StateSynRecv                   // SYN+ACK seen in reply
	StateEstablished               // three-way handshake completed
	StateFinWait                   // FIN seen in one direction
	StateCloseWait                 // FIN acknowledged by the other side
	StateLastAck                   // FIN seen in both directions
	StateTimeWait                  // last ACK seen
	StateClose                     // RST seen, or closed
	StateSynSent2                  // simultaneous open: SYN seen in both directions
	StateUDPUnreplied              // UDP, one direction only so far
	StateUDPReplied                // UDP, both directions seen (stream-like)
	StateICMP                      // ICMP echo exchange
	StateGeneric                   // any other protocol
	numStates
)

var stateNames = [numStates]string{
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
	"LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2", "UDP_UNREPLIED", "UDP_REPLIED",
	"ICMP", "GENERIC",
}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "INVALID"
}

// IsTCP reports whether s is one of the TCP states.
func (s State) IsTCP() bool { return s >= StateSynSent && s <= StateSynSent2 }

// embryonic reports whether a connection in state s has not been answered
// yet: the states the table evicts first when it is full.
func (s State) embryonic() bool {
	switch s {
	case StateSynSent, StateSynRecv, StateSynSent2, StateUDPUnreplied:
		return true
	}
	return false
}

// Dir is the direction of a packet relative to the connection it belongs to.
type Dir uint8

const (
	DirOriginal Dir = 0 // the direction of the packet that created the entry
	DirReply    Dir = 1 // the other direction
)

func (d Dir) String() string {
	if d == DirReply {
		return "reply"
	}
	return "original"
}

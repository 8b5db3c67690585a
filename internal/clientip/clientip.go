// Package clientip finds the address of the client behind a request. The
// connection's peer is the client unless it is a configured trusted proxy;
// only then is X-Forwarded-For read, from the right, skipping the trusted
// proxies, so a client cannot pick its own address by sending the header
// (chi's RealIP middleware trusts any client, which is why it is deprecated).
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver returns client addresses given the trusted proxies.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver trusting the given proxies, each an address or a
// CIDR block ("10.0.0.0/8", "127.0.0.1", "::1").
func New(proxies []string) (*Resolver, error) {
	r := &Resolver{}
	for _, p := range proxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			ip, ipErr := netip.ParseAddr(p)
			if ipErr != nil {
				return nil, fmt.Errorf("clientip: trusted proxy %q is neither an address nor a CIDR block", p)
			}
			pfx = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		r.trusted = append(r.trusted, pfx.Masked())
	}
	return r, nil
}

// Addr returns the client address of r, without a port.
func (res *Resolver) Addr(r *http.Request) string {
	peer := peerAddr(r)
	if !res.isTrusted(peer) {
		return peer.String()
	}
	// Rightmost first: entries left of the first untrusted hop were written
	// by whoever sent the request, and may be anything.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseHop(strings.TrimSpace(hops[i]))
		if !ok {
			break // garbage: the last trusted hop is the best we know
		}
		ip = ip.Unmap()
		if !res.isTrusted(ip) {
			return ip.String()
		}
		peer = ip
	}
	return peer.String()
}

// parseHop reads one X-Forwarded-For entry: an address, or an address with
// a port as some proxies and load balancers write it ("192.0.2.1:4711",
// "[2001:db8::1]:443"). Anything else (a host name, a bracketed address
// without a port, an empty or out-of-range port) is refused.
func parseHop(s string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	return netip.Addr{}, false
}

func (res *Resolver) isTrusted(ip netip.Addr) bool {
	for _, p := range res.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Peer is the address of the connection's peer, without the port (or
// RemoteAddr as it is, when it has none). It ignores X-Forwarded-For: use it
// where no proxy is trusted.
func Peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func peerAddr(r *http.Request) netip.Addr {
	ip, err := netip.ParseAddr(Peer(r))
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

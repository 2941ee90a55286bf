package ssrf

import "net/netip"

// IsDenied reports whether ip is in the deny list of §15, ignoring any
// allowlist: every range of the IANA IPv4 and IPv6 Special-Purpose Address
// Registries that is not globally reachable, multicast, ::/96, and addresses
// whose embedded IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) is denied.
// The invalid Addr is denied. Zones are ignored.
//
// The ranges are written as comparisons rather than a prefix table so that the
// package holds no state and the check costs a few instructions per dial.
func IsDenied(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	if ip.Is4() || ip.Is4In6() {
		// ::ffff:0:0/96 is how dual-stack sockets reach IPv4 hosts, so an
		// IPv4-mapped address is judged exactly like the address it maps.
		return denied4(ip.Unmap().As4())
	}
	return denied6(ip.As16())
}

// denied4 covers the not-globally-reachable IPv4 special-purpose ranges plus
// multicast and the reserved 240/4 (which includes 255.255.255.255).
func denied4(a [4]byte) bool {
	switch {
	case a[0] == 0: // 0.0.0.0/8 "this network"
		return true
	case a[0] == 10: // 10.0.0.0/8 private
		return true
	case a[0] == 100 && a[1]&0xc0 == 64: // 100.64.0.0/10 shared address space (CGN)
		return true
	case a[0] == 127: // 127.0.0.0/8 loopback
		return true
	case a[0] == 169 && a[1] == 254: // 169.254.0.0/16 link local, cloud metadata
		return true
	case a[0] == 172 && a[1]&0xf0 == 16: // 172.16.0.0/12 private
		return true
	case a[0] == 192 && a[1] == 0 && a[2] == 0: // 192.0.0.0/24 IETF protocol assignments
		return true
	case a[0] == 192 && a[1] == 0 && a[2] == 2: // 192.0.2.0/24 TEST-NET-1
		return true
	case a[0] == 192 && a[1] == 88 && a[2] == 99: // 192.88.99.0/24 deprecated 6to4 relay anycast
		return true
	case a[0] == 192 && a[1] == 168: // 192.168.0.0/16 private
		return true
	case a[0] == 198 && a[1]&0xfe == 18: // 198.18.0.0/15 benchmarking
		return true
	case a[0] == 198 && a[1] == 51 && a[2] == 100: // 198.51.100.0/24 TEST-NET-2
		return true
	case a[0] == 203 && a[1] == 0 && a[2] == 113: // 203.0.113.0/24 TEST-NET-3
		return true
	case a[0] >= 224: // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved and broadcast
		return true
	}
	return false
}

// denied6 judges an IPv6 address that is not IPv4-mapped.
//
// Only 2000::/3 is allocated for global unicast, so everything outside it is
// denied except the NAT64 well-known prefix. That one rule covers ::/128, ::1,
// ::/96 (IPv4-compatible), 64:ff9b:1::/48 (local-use NAT64, not globally
// reachable), 100::/64 (discard), 100:0:0:1::/64 (dummy), 5f00::/16 (SRv6
// SIDs), fc00::/7 (unique local, e.g. fd00:ec2::254), fe80::/10 (link local),
// fec0::/10 (old site local) and ff00::/8 (multicast). Inside 2000::/3 the
// registry's not-globally-reachable ranges are listed explicitly.
func denied6(a [16]byte) bool {
	if a[0]&0xe0 != 0x20 {
		// 64:ff9b::/96 (RFC 6052 well-known prefix): the IPv4 address is the
		// last 32 bits.
		if a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && allZero(a[4:12]) {
			return denied4([4]byte(a[12:16]))
		}
		return true
	}
	switch {
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0:
		// 2001::/32 Teredo: the server address is bits 32-63, the client
		// address is the last 32 bits inverted. Either one reaches a host.
		client := [4]byte{^a[12], ^a[13], ^a[14], ^a[15]}
		return denied4([4]byte(a[4:8])) || denied4(client)
	case a[0] == 0x20 && a[1] == 0x01 && a[2]&0xfe == 0:
		// 2001::/23 IETF protocol assignments: not globally reachable,
		// except the registry's globally reachable sub-blocks.
		return !globalIETF(a)
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8: // 2001:db8::/32 documentation
		return true
	case a[0] == 0x20 && a[1] == 0x02:
		// 2002::/16 6to4: the IPv4 address is bits 16-47.
		return denied4([4]byte(a[2:6]))
	case a[0] == 0x3f && a[1] == 0xff && a[2]&0xf0 == 0: // 3fff::/20 documentation
		return true
	}
	return false
}

// globalIETF reports whether an address in 2001::/23 (outside Teredo) is in
// one of the sub-blocks the IANA registry marks globally reachable.
func globalIETF(a [16]byte) bool {
	block := uint16(a[2])<<8 | uint16(a[3]) // the second hextet: 2001:<block>::
	switch {
	case block == 0x0001 && allZero(a[4:15]) && a[15] >= 1 && a[15] <= 3:
		return true // 2001:1::1, ::2, ::3 (PCP anycast, TURN anycast, DNS-SD SRP anycast)
	case block == 0x0003:
		return true // 2001:3::/32 AMT
	case block == 0x0004 && a[4] == 0x01 && a[5] == 0x12:
		return true // 2001:4:112::/48 AS112-v6
	case block >= 0x0020 && block <= 0x003f:
		return true // 2001:20::/28 ORCHIDv2, 2001:30::/28 DRIP
	}
	return false
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

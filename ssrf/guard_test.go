package ssrf_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ssrf"
)

// fakeResolver answers from a table. Each host has a sequence of answers; a
// lookup returns the next one and the last one repeats, which models DNS
// rebinding. Unknown hosts fail like NXDOMAIN, so no real DNS is ever used.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][][]string
	calls   map[string]int
}

func newResolver(answers map[string][][]string) *fakeResolver {
	return &fakeResolver{answers: answers, calls: make(map[string]int)}
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	i := min(r.calls[host], len(seq)-1)
	r.calls[host]++
	out := make([]net.IPAddr, 0, len(seq[i]))
	for _, s := range seq[i] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)}) // 16-byte form, as the Go resolver returns
	}
	return out, nil
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

// dialRecorder stands in for the network: it records every address the guard
// dials and hands back one end of a pipe.
type dialRecorder struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) dial(_ context.Context, _, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	c1, c2 := net.Pipe()
	_ = c2.Close()
	return c1, nil
}

func (d *dialRecorder) dialed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func newGuard(t testing.TB, opts *ssrf.Options) *ssrf.Guard {
	t.Helper()
	g, err := ssrf.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

// dnsTargets resolve, through the fake resolver, to each denied class.
var dnsTargets = map[string][][]string{
	"loopback.test":    {{"127.0.0.1"}},
	"loopback6.test":   {{"::1"}},
	"ten.test":         {{"10.1.2.3"}},
	"oneseventwo.test": {{"172.20.0.1"}},
	"home.test":        {{"192.168.0.10"}},
	"cgnat.test":       {{"100.100.100.100"}},
	"imds.test":        {{"169.254.169.254"}},
	"imds6.test":       {{"fd00:ec2::254"}},
	"linklocal6.test":  {{"fe80::1"}},
	"mapped.test":      {{"::ffff:127.0.0.1"}},
	"nat64.test":       {{"64:ff9b::a9fe:a9fe"}},
	"sixtofour.test":   {{"2002:7f00:1::"}},
	"teredo.test":      {{"2001:0:4136:e378:8000:63bf:f5ff:fffe"}},
	"zero.test":        {{"0.0.0.0"}},
	"unspecified.test": {{"::"}},
	"multicast.test":   {{"224.0.0.251"}},
	"reserved.test":    {{"240.0.0.1"}},
	"bench.test":       {{"198.18.0.1"}},
	"ietf.test":        {{"192.0.0.170"}},
	"mixed.test":       {{"93.184.215.14", "10.0.0.1"}},
	"mixed6.test":      {{"2606:4700:4700::1111", "fc00::1"}},
	"public.test":      {{"93.184.215.14"}},
	"public6.test":     {{"2606:4700:4700::1111"}},
}

func TestRefusedByDefault(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		atDial bool // the name is fine; the resolved address is refused at dial time
	}{
		{name: "Loopback", url: "https://127.0.0.1/"},
		{name: "LoopbackHigh", url: "https://127.255.255.254:8443/x"},
		{name: "LoopbackV6", url: "https://[::1]/"},
		{name: "LoopbackDecimal", url: "https://2130706433/"},
		{name: "LoopbackOctal", url: "https://0177.0.0.1/"},
		{name: "LoopbackHexShort", url: "https://0x7f.1/"},
		{name: "LoopbackHexWhole", url: "https://0x7F000001/"},
		{name: "LoopbackShort", url: "https://127.1/"},
		{name: "LoopbackThreeParts", url: "https://127.0.1/"},
		{name: "LoopbackLeadingZeros", url: "https://127.000.000.001/"},
		{name: "LoopbackTrailingDot", url: "https://127.0.0.1./"},
		{name: "NumericLastLabel", url: "https://example.123/"},
		{name: "Private10", url: "https://10.0.0.1/"},
		{name: "Private172Low", url: "https://172.16.0.1/"},
		{name: "Private172High", url: "https://172.31.255.255/"},
		{name: "Private192", url: "https://192.168.1.1/"},
		{name: "SharedLow", url: "https://100.64.0.1/"},
		{name: "SharedHigh", url: "https://100.127.255.255/"},
		{name: "Metadata", url: "https://169.254.169.254/latest/meta-data/"},
		{name: "MetadataAWSv6", url: "https://[fd00:ec2::254]/"},
		{name: "LinkLocalV6", url: "https://[fe80::1]/"},
		{name: "LinkLocalV6Zone", url: "https://[fe80::1%25eth0]/"},
		{name: "MappedLoopback", url: "https://[::ffff:127.0.0.1]/"},
		{name: "MappedLoopbackHex", url: "https://[::ffff:7f00:1]/"},
		{name: "MappedMetadata", url: "https://[::ffff:169.254.169.254]/"},
		{name: "NAT64Metadata", url: "https://[64:ff9b::a9fe:a9fe]/"},
		{name: "NAT64LocalUse", url: "https://[64:ff9b:1::a00:1]/"},
		{name: "SixToFourLoopback", url: "https://[2002:7f00:1::]/"},
		{name: "SixToFourMetadata", url: "https://[2002:a9fe:a9fe::1]/"},
		{name: "TeredoPrivateClient", url: "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/"},
		{name: "TeredoPrivateServer", url: "https://[2001:0:a00:1:8000:63bf:f7f7:f7f7]/"},
		{name: "ThisNetwork", url: "https://0.0.0.0/"},
		{name: "ThisNetworkOther", url: "https://0.1.2.3/"},
		{name: "UnspecifiedV6", url: "https://[::]/"},
		{name: "IPv4Compatible", url: "https://[::808:808]/"},
		{name: "Multicast", url: "https://224.0.0.1/"},
		{name: "MulticastV6", url: "https://[ff02::1]/"},
		{name: "Reserved", url: "https://240.0.0.1/"},
		{name: "Broadcast", url: "https://255.255.255.255/"},
		{name: "BenchmarkLow", url: "https://198.18.0.1/"},
		{name: "BenchmarkHigh", url: "https://198.19.255.255/"},
		{name: "IETFAssignments", url: "https://192.0.0.170/"},
		{name: "TestNet1", url: "https://192.0.2.1/"},
		{name: "DiscardV6", url: "https://[100::1]/"},
		{name: "DocumentationV6", url: "https://[2001:db8::1]/"},
		{name: "UniqueLocal", url: "https://[fc00::1]/"},
		{name: "Localhost", url: "https://localhost/"},
		{name: "LocalhostUpperDot", url: "https://LOCALHOST./"},
		{name: "LocalhostSub", url: "https://foo.localhost/"},
		{name: "MetadataName", url: "https://metadata/"},
		{name: "MetadataGoogle", url: "https://metadata.google.internal/computeMetadata/v1/"},
		{name: "DotInternal", url: "https://x.internal/"},
		{name: "FullwidthDigits", url: "https://１２７.０.０.１/"},
		{name: "PlainHTTP", url: "http://api.example.com/"},
		{name: "OtherScheme", url: "ftp://api.example.com/"},
		{name: "Userinfo", url: "https://user:pass@api.example.com/"},
		{name: "NoHost", url: "https:///path"},
		{name: "DNSLoopback", url: "https://loopback.test/", atDial: true},
		{name: "DNSLoopbackV6", url: "https://loopback6.test/", atDial: true},
		{name: "DNSPrivate10", url: "https://ten.test/", atDial: true},
		{name: "DNSPrivate172", url: "https://oneseventwo.test/", atDial: true},
		{name: "DNSPrivate192", url: "https://home.test/", atDial: true},
		{name: "DNSShared", url: "https://cgnat.test/", atDial: true},
		{name: "DNSMetadata", url: "https://imds.test/", atDial: true},
		{name: "DNSMetadataV6", url: "https://imds6.test/", atDial: true},
		{name: "DNSLinkLocalV6", url: "https://linklocal6.test/", atDial: true},
		{name: "DNSMapped", url: "https://mapped.test/", atDial: true},
		{name: "DNSNAT64", url: "https://nat64.test/", atDial: true},
		{name: "DNSSixToFour", url: "https://sixtofour.test/", atDial: true},
		{name: "DNSTeredo", url: "https://teredo.test/", atDial: true},
		{name: "DNSThisNetwork", url: "https://zero.test/", atDial: true},
		{name: "DNSUnspecifiedV6", url: "https://unspecified.test/", atDial: true},
		{name: "DNSMulticast", url: "https://multicast.test/", atDial: true},
		{name: "DNSReserved", url: "https://reserved.test/", atDial: true},
		{name: "DNSBenchmark", url: "https://bench.test/", atDial: true},
		{name: "DNSIETF", url: "https://ietf.test/", atDial: true},
		{name: "DNSPublicAndPrivate", url: "https://mixed.test/", atDial: true},
		{name: "DNSPublicAndPrivateV6", url: "https://mixed6.test/", atDial: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &dialRecorder{}
			g := newGuard(t, &ssrf.Options{Resolver: newResolver(dnsTargets), Dial: rec.dial})
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatalf("url.Parse: %v", err)
			}
			err = g.CheckURL(u)
			switch {
			case tt.atDial && err != nil:
				t.Fatalf("CheckURL = %v, want nil (the name is only refused once resolved)", err)
			case !tt.atDial && !errors.Is(err, ssrf.ErrBlocked):
				t.Fatalf("CheckURL = %v, want ErrBlocked", err)
			}
			if u.Host == "" || u.Scheme != "https" || u.User != nil {
				return // nothing to dial
			}
			conn, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(u.Hostname(), portOf(u)))
			if err == nil {
				_ = conn.Close()
			}
			if !errors.Is(err, ssrf.ErrBlocked) {
				t.Fatalf("DialContext = %v, want ErrBlocked", err)
			}
			var opErr *net.OpError
			if !errors.As(err, &opErr) {
				t.Errorf("DialContext error %T is not a *net.OpError", err)
			}
			if got := rec.dialed(); len(got) != 0 {
				t.Errorf("dialed %v, want nothing", got)
			}
			for _, answers := range dnsTargets[u.Hostname()] {
				for _, ip := range answers {
					if strings.Contains(err.Error(), ip) {
						t.Errorf("error %q names the resolved address %s", err, ip)
					}
				}
			}
		})
	}
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "443"
}

func TestIsDenied(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.215.14", false},
		{"9.255.255.255", false},
		{"11.0.0.0", false},
		{"100.63.255.255", false},
		{"100.128.0.0", false},
		{"126.255.255.255", false},
		{"128.0.0.0", false},
		{"169.253.255.255", false},
		{"172.15.255.255", false},
		{"172.32.0.0", false},
		{"192.0.1.1", false},
		{"192.31.196.1", false}, // AS112, globally reachable
		{"192.167.255.255", false},
		{"198.17.255.255", false},
		{"198.20.0.0", false},
		{"223.255.255.255", false},
		{"2606:4700:4700::1111", false},
		{"2a00:1450:4001:80b::200e", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false},
		{"2002:808:808::1", false},
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", false}, // Teredo, public server and client
		{"2001:4:112::1", false},                        // AS112-v6
		{"2001:20::1", false},                           // ORCHIDv2
		{"2001:3::1", false},                            // AMT
		{"2001:1::1", false},                            // PCP anycast
		{"2620:4f:8000::1", false},
		{"0.0.0.0", true},
		{"127.0.0.1", true},
		{"100.64.0.0", true},
		{"169.254.0.1", true},
		{"192.0.0.9", true},
		{"192.88.99.1", true},
		{"198.51.100.7", true},
		{"203.0.113.7", true},
		{"239.255.255.255", true},
		{"::", true},
		{"::1", true},
		{"::127.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:0:a00:1", true}, // IPv4-translated, outside global unicast
		{"64:ff9b::a00:1", true},
		{"64:ff9b::1:a00:1", true}, // in 64:ff9b::/32 but not the /96
		{"64:ff9b:1::808:808", true},
		{"100::1", true},
		{"100:0:0:1::1", true},
		{"2001::1", true}, // Teredo with client 255.255.255.254
		{"2001:1::4", true},
		{"2001:2::1", true},
		{"2001:10::1", true},
		{"2001:db8::1", true},
		{"2002:c0a8:101::1", true},
		{"2002:a00:1::", true},
		{"3fff::1", true},
		{"5f00::1", true},
		{"fc00::1", true},
		{"fd00:ec2::254", true},
		{"fe80::1%eth0", true},
		{"fec0::1", true},
		{"ff0e::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := ssrf.IsDenied(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("IsDenied(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
	t.Run("Invalid", func(t *testing.T) {
		if !ssrf.IsDenied(netip.Addr{}) {
			t.Error("the zero Addr is not denied")
		}
	})
}

func TestAllowedByDefault(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want []string // addresses dialed
	}{
		{name: "PublicIPv4Literal", url: "https://8.8.8.8/", want: []string{"8.8.8.8:443"}},
		{name: "PublicIPv6Literal", url: "https://[2606:4700:4700::1111]:8443/", want: []string{"[2606:4700:4700::1111]:8443"}},
		{name: "PublicNAT64Literal", url: "https://[64:ff9b::808:808]/", want: []string{"[64:ff9b::808:808]:443"}},
		{name: "PublicName", url: "https://public.test/v2", want: []string{"93.184.215.14:443"}},
		{name: "PublicNameV6", url: "https://public6.test/", want: []string{"[2606:4700:4700::1111]:443"}},
		{name: "UpperCaseScheme", url: "HTTPS://Public.Test./", want: []string{"93.184.215.14:443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &dialRecorder{}
			res := newResolver(dnsTargets)
			g := newGuard(t, &ssrf.Options{Resolver: res, Dial: rec.dial})
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.CheckURL(u); err != nil {
				t.Fatalf("CheckURL = %v", err)
			}
			conn, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(u.Hostname(), portOf(u)))
			if err != nil {
				t.Fatalf("DialContext = %v", err)
			}
			_ = conn.Close()
			if diff := cmp.Diff(tt.want, rec.dialed()); diff != "" {
				t.Errorf("dialed (-want +got):\n%s", diff)
			}
			if n := res.count(strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))); n > 1 {
				t.Errorf("resolved %d times, want at most once", n)
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	res := newResolver(map[string][][]string{
		"svc.corp.test":   {{"10.0.0.7"}},
		"other.corp.test": {{"10.0.0.8"}},
		"db.corp.test":    {{"192.168.5.5"}},
		"localhost":       {{"127.0.0.1"}},
	})
	rec := &dialRecorder{}
	g := newGuard(t, &ssrf.Options{
		Allow:    []string{"SVC.corp.test, 172.16.0.0/12", "", "192.168.5.5", "localhost"},
		Resolver: res,
		Dial:     rec.dial,
	})
	tests := []struct {
		name     string
		url      string
		checkErr bool // CheckURL refuses
		dialErr  bool // DialContext refuses
	}{
		{name: "NameHTTP", url: "http://svc.corp.test:8080/"},
		{name: "NameCaseAndDot", url: "https://Svc.Corp.Test./"},
		{name: "NameIsExact", url: "https://x.svc.corp.test/", dialErr: true},
		{name: "OtherNameSamePrivateNet", url: "https://other.corp.test/", dialErr: true},
		{name: "OtherNameHTTP", url: "http://other.corp.test/", checkErr: true, dialErr: true},
		{name: "CIDRLiteralHTTP", url: "http://172.20.1.1/"},
		{name: "CIDRMappedLiteral", url: "https://[::ffff:172.20.1.1]/"},
		{name: "AddressEntryByResolution", url: "https://db.corp.test/"},
		{name: "AddressEntryLiteral", url: "http://192.168.5.5/"},
		{name: "AddressEntryIsExact", url: "https://192.168.5.6/", checkErr: true, dialErr: true},
		{name: "DeniedNameAllowlisted", url: "http://localhost:8080/"}, // an allowlisted name skips the name and address checks
		{name: "StillNoUserinfo", url: "http://user@svc.corp.test/", checkErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.CheckURL(u); (err != nil) != tt.checkErr {
				t.Errorf("CheckURL = %v, want error %v", err, tt.checkErr)
			}
			if tt.checkErr && !tt.dialErr {
				return
			}
			conn, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(u.Hostname(), portOf(u)))
			if err == nil {
				_ = conn.Close()
			}
			if (err != nil) != tt.dialErr {
				t.Errorf("DialContext = %v, want error %v", err, tt.dialErr)
			}
		})
	}
	if !ssrf.IsDenied(netip.MustParseAddr("172.20.1.1")) || g.IsDenied(netip.MustParseAddr("172.20.1.1")) {
		t.Error("an allowlisted CIDR must override the deny list only on the guard")
	}
}

func TestNewRejectsBadEntries(t *testing.T) {
	for _, entry := range []string{"10.0.0.0/33", "exa mple.com", "127.1", "0x7f.1", "api.example.com:443", "fe80::1%eth0", "bücher.example", "https://x.example"} {
		t.Run(entry, func(t *testing.T) {
			_, err := ssrf.New(&ssrf.Options{Allow: []string{"ok.example," + entry}})
			if !patchbay.IsCode(err, patchbay.EInvalid) {
				t.Errorf("New = %v, want %s", err, patchbay.EInvalid)
			}
		})
	}
}

func TestDialContextNetworks(t *testing.T) {
	res := newResolver(map[string][][]string{"dual.test": {{"2606:4700:4700::1111", "93.184.215.14"}}})
	tests := []struct {
		network string
		want    []string
		blocked bool
	}{
		{network: "tcp", want: []string{"[2606:4700:4700::1111]:443"}},
		{network: "tcp4", want: []string{"93.184.215.14:443"}},
		{network: "tcp6", want: []string{"[2606:4700:4700::1111]:443"}},
		{network: "udp", blocked: true},
		{network: "unix", blocked: true},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			rec := &dialRecorder{}
			g := newGuard(t, &ssrf.Options{Resolver: res, Dial: rec.dial})
			conn, err := g.DialContext(context.Background(), tt.network, "dual.test:443")
			if tt.blocked {
				if !errors.Is(err, ssrf.ErrBlocked) {
					t.Fatalf("DialContext = %v, want ErrBlocked", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DialContext = %v", err)
			}
			_ = conn.Close()
			if diff := cmp.Diff(tt.want, rec.dialed()); diff != "" {
				t.Errorf("dialed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDialFallsBack checks that only the checked addresses are tried, in
// resolver order, and that the name is not resolved again for the second.
func TestDialFallsBack(t *testing.T) {
	res := newResolver(map[string][][]string{"two.test": {{"93.184.215.14", "93.184.215.15"}}})
	var tried []string
	g := newGuard(t, &ssrf.Options{Resolver: res, Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
		tried = append(tried, addr)
		if len(tried) == 1 {
			return nil, errors.New("connection refused")
		}
		c1, c2 := net.Pipe()
		_ = c2.Close()
		return c1, nil
	}})
	conn, err := g.DialContext(context.Background(), "tcp", "two.test:443")
	if err != nil {
		t.Fatalf("DialContext = %v", err)
	}
	_ = conn.Close()
	if diff := cmp.Diff([]string{"93.184.215.14:443", "93.184.215.15:443"}, tried); diff != "" {
		t.Errorf("tried (-want +got):\n%s", diff)
	}
	if n := res.count("two.test"); n != 1 {
		t.Errorf("resolved %d times, want 1", n)
	}
}

// loopbackServer starts an httptest server on 127.0.0.1 and returns it with
// its port.
func loopbackServer(t *testing.T, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return srv, u.Port()
}

func TestClientAllowlistedLoopback(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-localhost", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://localhost/admin", http.StatusFound)
	})
	mux.HandleFunc("/to-private-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://ten.test/", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		switch n := r.PathValue("n"); n {
		case "0":
			fmt.Fprint(w, "ok")
		default:
			http.Redirect(w, r, fmt.Sprintf("/hop/%c", n[0]-1), http.StatusFound)
		}
	})
	srv, port := loopbackServer(t, mux)
	g := newGuard(t, &ssrf.Options{
		Allow:    []string{"127.0.0.1/32", "api.loopback.test"},
		Resolver: newResolver(map[string][][]string{"api.loopback.test": {{"127.0.0.1"}}, "ten.test": {{"10.1.2.3"}}}),
	})
	client := g.Client(0)

	tests := []struct {
		name    string
		url     string
		blocked bool // errors.Is(err, ErrBlocked)
		fails   bool // any other error
	}{
		{name: "AllowlistedCIDR", url: srv.URL + "/ok"},
		{name: "AllowlistedName", url: "http://api.loopback.test:" + port + "/ok"},
		{name: "NotAllowlistedLoopbackName", url: "http://LOCALHOST:" + port + "/ok", blocked: true},
		{name: "RedirectToMetadata", url: srv.URL + "/to-metadata", blocked: true},
		{name: "RedirectToLocalhost", url: srv.URL + "/to-localhost", blocked: true},
		{name: "RedirectToPrivateName", url: srv.URL + "/to-private-name", blocked: true},
		{name: "ThreeRedirects", url: srv.URL + "/hop/3"},
		{name: "FourRedirects", url: srv.URL + "/hop/4", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := g.CheckURL(req.URL); err != nil && !tt.blocked {
				t.Fatalf("CheckURL = %v", err)
			}
			resp, err := client.Do(req)
			if err == nil {
				defer resp.Body.Close()
			}
			switch {
			case tt.blocked:
				if !errors.Is(err, ssrf.ErrBlocked) {
					t.Fatalf("Do = %v, want ErrBlocked", err)
				}
				var uerr *url.Error
				if !errors.As(err, &uerr) {
					t.Errorf("error %T is not a *url.Error", err)
				}
			case tt.fails:
				if err == nil || errors.Is(err, ssrf.ErrBlocked) {
					t.Fatalf("Do = %v, want a redirect-limit error", err)
				}
			default:
				if err != nil {
					t.Fatalf("Do = %v", err)
				}
				if resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// TestDNSRebinding: the name first resolves to a public address (the dial is
// redirected to the loopback test server, standing in for the public host),
// then to loopback. The second connection must be refused, and the loopback
// address is never dialed.
func TestDNSRebinding(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "public") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	port := strings.TrimPrefix(srv.URL, "http://127.0.0.1:")

	res := newResolver(map[string][][]string{"rebind.test": {{"93.184.215.14"}, {"127.0.0.1"}}})
	var dialed []string
	g := newGuard(t, &ssrf.Options{Resolver: res, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		if addr != "93.184.215.14:"+port {
			return nil, fmt.Errorf("test dialer: unexpected address %s", addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}})
	client := &http.Client{Transport: g.Transport()}

	resp, err := client.Get("http://rebind.test:" + port + "/")
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	_ = resp.Body.Close()
	g.Transport().CloseIdleConnections()

	resp, err = client.Get("http://rebind.test:" + port + "/")
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("second request after rebinding to loopback succeeded")
	}
	if !errors.Is(err, ssrf.ErrBlocked) {
		t.Fatalf("second request = %v, want ErrBlocked", err)
	}
	if strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error %q names the resolved address", err)
	}
	if diff := cmp.Diff([]string{"93.184.215.14:" + port}, dialed); diff != "" {
		t.Errorf("dialed (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("server saw %d connections, want 1", conns)
	}
}

func TestTransportSettings(t *testing.T) {
	g := newGuard(t, nil)
	tr := g.Transport()
	type settings struct {
		ProxyNil, DialSet, HTTP2     bool
		MaxIdle, MaxIdlePerHost      int
		IdleTimeout, TLSTimeout, RHT string
	}
	got := settings{tr.Proxy == nil, tr.DialContext != nil, tr.ForceAttemptHTTP2, tr.MaxIdleConns, tr.MaxIdleConnsPerHost,
		tr.IdleConnTimeout.String(), tr.TLSHandshakeTimeout.String(), tr.ResponseHeaderTimeout.String()}
	want := settings{true, true, true, 512, 128, "1m30s", "10s", "0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transport (-want +got):\n%s", diff)
	}
	if g.Client(0).Transport != tr {
		t.Error("Client does not use the shared transport")
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com/v1", "https://8.8.8.8/", "https://127.0.0.1/", "https://2130706433/",
		"https://0177.0.0.1/", "https://0x7f.1/", "https://127.1/", "https://[::ffff:127.0.0.1]/",
		"https://[64:ff9b::a9fe:a9fe]/", "https://[2002:7f00:1::]/", "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
		"https://[fe80::1%25eth0]:443/", "https://localhost./", "http://x.internal/", "https://u:p@h/", "https:opaque",
		"https://１２７.０.０.１/", "https://[::]/", "//host/path", "https://1.2.3.4.5/", "https://0x/",
	} {
		f.Add(s)
	}
	// The dialer never connects; it reports the address it was asked for, so
	// the target can check that nothing denied ever reaches it.
	g := newGuard(f, &ssrf.Options{
		Resolver: newResolver(nil),
		Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
			return nil, &dialedError{addr: addr}
		},
	})
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if g.CheckURL(u) != nil {
			return
		}
		host := strings.ToLower(strings.TrimRight(u.Hostname(), "."))
		if ip, err := netip.ParseAddr(host); err == nil && ssrf.IsDenied(ip) {
			t.Fatalf("CheckURL accepted %q whose host is the denied address %s", raw, ip)
		}
		if u.User != nil || !strings.EqualFold(u.Scheme, "https") {
			t.Fatalf("CheckURL accepted %q", raw)
		}
		_, err = g.DialContext(context.Background(), "tcp", net.JoinHostPort(u.Hostname(), "443"))
		var de *dialedError
		if errors.As(err, &de) {
			ap, perr := netip.ParseAddrPort(de.addr)
			if perr != nil || ssrf.IsDenied(ap.Addr()) {
				t.Fatalf("DialContext for %q dialed %q", raw, de.addr)
			}
		}
	})
}

type dialedError struct{ addr string }

func (e *dialedError) Error() string { return "fuzz: would dial " + e.addr }

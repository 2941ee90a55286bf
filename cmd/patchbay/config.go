package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is the configuration of serve (§18.1) and of the offline commands
// that open the database.
type Config struct {
	Addr                   string
	DataDir                string
	DatabaseURL            string
	RedisURL               string
	PublicURL              string
	RateLimit              int
	MgmtRateLimit          int
	MaxBodyBytes           int64
	UpstreamTimeout        time.Duration
	MaxUpstreamConcurrency int
	CacheTTL               time.Duration
	CacheMaxBytes          int64
	ConfigCacheTTL         time.Duration
	ConnectorsDir          string
	OAuthAppsFile          string
	SSRFAllow              string
	AllowedOrigins         string
	AllowedHosts           string
	TrustedProxies         string
	MetricsAddr            string
	AuditRetention         time.Duration
	ShutdownDrain          time.Duration
	LogLevel               string

	// publicFromAddr is set when --public-url was not given: serve then
	// uses the address it actually listens on (which matters for port 0).
	publicFromAddr bool
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Addr: "127.0.0.1:8080", DataDir: "./data", RateLimit: 100, MgmtRateLimit: 600, MaxBodyBytes: 10485760,
		UpstreamTimeout: 30 * time.Second, MaxUpstreamConcurrency: 64, CacheTTL: time.Hour, CacheMaxBytes: 268435456,
		ConfigCacheTTL: 5 * time.Second, AuditRetention: 2160 * time.Hour, ShutdownDrain: 5 * time.Second, LogLevel: "info",
	}
}

// storeFlags registers the flags every database-opening command takes.
func storeFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the SQLite database and master.key")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "sqlite://PATH or postgres://... (default sqlite://<data-dir>/patchbay.db)")
}

// serveFlags registers every flag of §18.1.
func serveFlags(fs *pflag.FlagSet, c *Config) {
	storeFlags(fs, c)
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis URL for several instances (none: single instance)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "base of url, accessUrl, oauthUrl and the OAuth callback (default http://<addr>)")
	fs.IntVar(&c.RateLimit, "rate-limit", c.RateLimit, "MCP requests per minute per server and user")
	fs.IntVar(&c.MgmtRateLimit, "mgmt-rate-limit", c.MgmtRateLimit, "management requests per minute per API key")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", c.UpstreamTimeout, "timeout of one platform call")
	fs.IntVar(&c.MaxUpstreamConcurrency, "max-upstream-concurrency", c.MaxUpstreamConcurrency, "concurrent platform calls per account")
	fs.DurationVar(&c.CacheTTL, "cache-ttl", c.CacheTTL, "lifetime of cached read-action responses")
	fs.Int64Var(&c.CacheMaxBytes, "cache-max-bytes", c.CacheMaxBytes, "size of the in-memory response cache")
	fs.DurationVar(&c.ConfigCacheTTL, "config-cache-ttl", c.ConfigCacheTTL, "bound on cached keys, tokens and server configurations")
	fs.StringVar(&c.ConnectorsDir, "connectors-dir", c.ConnectorsDir, "directory of extra built-in connector definitions")
	fs.StringVar(&c.OAuthAppsFile, "oauth-apps-file", c.OAuthAppsFile, "YAML map of instance-wide OAuth apps")
	fs.StringVar(&c.SSRFAllow, "ssrf-allow", c.SSRFAllow, "comma-separated hosts and CIDRs exempt from the SSRF deny list")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", c.AllowedOrigins, "comma-separated origins allowed for CORS")
	fs.StringVar(&c.AllowedHosts, "allowed-hosts", c.AllowedHosts, "comma-separated extra Host names")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "comma-separated CIDRs of reverse proxies")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve /metrics on this address only")
	fs.DurationVar(&c.AuditRetention, "audit-retention", c.AuditRetention, "how long audit events are kept")
	fs.DurationVar(&c.ShutdownDrain, "shutdown-drain", c.ShutdownDrain, "how long requests are still served after SIGTERM")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
}

// applyEnv sets every flag that was not given on the command line from its
// PATCHBAY_<FLAG> variable: a flag beats its variable (§18).
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "PATCHBAY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

// Validate checks the configuration and fills derived defaults.
func (c *Config) Validate() error {
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "patchbay.db")
	}
	if _, _, err := c.Database(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
		c.publicFromAddr = true
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--public-url %q must be an absolute http(s) URL", c.PublicURL)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"--rate-limit must be 1 to 100000", c.RateLimit >= 1 && c.RateLimit <= 100000},
		{"--mgmt-rate-limit must be at least 1", c.MgmtRateLimit >= 1},
		{"--max-body-bytes must be at least 1024", c.MaxBodyBytes >= 1024},
		{"--upstream-timeout must be positive", c.UpstreamTimeout > 0},
		{"--max-upstream-concurrency must be at least 1", c.MaxUpstreamConcurrency >= 1},
		{"--cache-ttl must not be negative", c.CacheTTL >= 0},
		{"--cache-max-bytes must not be negative", c.CacheMaxBytes >= 0},
		{"--config-cache-ttl must be positive", c.ConfigCacheTTL > 0},
		{"--audit-retention must be positive", c.AuditRetention > 0},
		{"--shutdown-drain must not be negative", c.ShutdownDrain >= 0},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%s", ch.name)
		}
	}
	if _, err := c.Proxies(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level must be debug, info, warn or error")
	}
	return nil
}

// Database returns the store kind ("sqlite" or "postgres") and its DSN or path.
func (c *Config) Database() (kind, target string, err error) {
	switch {
	case strings.HasPrefix(c.DatabaseURL, "sqlite://"):
		p := strings.TrimPrefix(c.DatabaseURL, "sqlite://")
		if p == "" {
			return "", "", fmt.Errorf("--database-url %q names no file", c.DatabaseURL)
		}
		return "sqlite", p, nil
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		return "postgres", c.DatabaseURL, nil
	}
	return "", "", fmt.Errorf("--database-url must start with sqlite:// or postgres://")
}

// Proxies parses --trusted-proxies.
func (c *Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(c.TrustedProxies) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR", s)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

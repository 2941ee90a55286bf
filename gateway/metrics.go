package gateway

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchbay-mcp/patchbay"
)

// Metrics are the MCP-side Prometheus series of §17.1.
type Metrics struct {
	toolCalls *prometheus.CounterVec
	upstreams *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	cache     *prometheus.CounterVec
}

// NewMetrics registers the gateway's series on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchbay_mcp_tool_calls_total",
			Help: "MCP tool calls by kind (meta or direct) and outcome."}, []string{"kind", "outcome"}),
		upstreams: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchbay_upstream_requests_total",
			Help: "Platform calls by connector (built-in ID, or custom) and outcome."}, []string{"connector", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "patchbay_upstream_request_duration_seconds",
			Help: "Platform call latency by connector.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"connector"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "patchbay_cache_lookups_total",
			Help: "Read-cache lookups by result."}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.toolCalls, m.upstreams, m.latency, m.cache} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (h *Handler) metrics() *Metrics { return h.opts.Metrics }

func (m *Metrics) toolCall(kind, outcome string) {
	if m != nil {
		m.toolCalls.WithLabelValues(kind, outcome).Inc()
	}
}

func (m *Metrics) cacheLookup(result string) {
	if m != nil {
		m.cache.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) upstream(conn *patchbay.Connector, err error, d time.Duration) {
	if m == nil {
		return
	}
	label := "custom"
	if conn.Source == patchbay.SourceBuiltin {
		label = conn.ID
	}
	outcome := "success"
	var pe *patchbay.Error
	switch {
	case err == nil:
	case errors.As(err, &pe) && pe.Code == patchbay.EUpstreamTimeout:
		outcome = "timeout"
	case errors.As(err, &pe) && pe.Code == patchbay.EUpstream:
		outcome = "upstream_error"
	default:
		outcome = "error"
	}
	m.upstreams.WithLabelValues(label, outcome).Inc()
	m.latency.WithLabelValues(label).Observe(d.Seconds())
}

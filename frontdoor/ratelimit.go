package frontdoor

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/ratelimit"
)

// SetRateLimitHeaders writes the X-RateLimit-* headers of §9 (and
// Retry-After for a refusal).
func SetRateLimitHeaders(hd http.Header, d ratelimit.Decision, now time.Time) {
	hd.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	hd.Set("X-RateLimit-Remaining", strconv.Itoa(max(d.Remaining, 0)))
	hd.Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(d.Reset), 10))
	if !d.Allowed {
		hd.Set("Retry-After", strconv.Itoa(retryAfter(d, now)))
	}
}

func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// retryAfter is the wait until the oldest admitted request leaves the window,
// rounded up to whole seconds. Rounding the already rounded-up Reset again
// could say 61 for a 60 s window.
func retryAfter(d ratelimit.Decision, now time.Time) int {
	secs := int(math.Ceil(d.Reset.Sub(now).Seconds()))
	return max(secs, 1)
}

// RateLimited is the 429 error of §9.
func RateLimited(d ratelimit.Decision, now time.Time) error {
	return patchbay.Errorf(patchbay.ERateLimited, "Rate limit exceeded").
		With("limit", d.Limit).With("windowSeconds", 60).With("retryAfterSeconds", retryAfter(d, now))
}

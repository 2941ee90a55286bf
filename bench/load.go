package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one way of getting the same document from the same upstream:
// directly, through the floor forwarder, or through Patchbay.
type target struct {
	Name      string // e.g. gateway-token-rest-200B
	Path      string // direct, floor or gateway
	Auth      string // token, apikey or jwt (gateway only)
	Connector string // rest or mcp
	Size      string // 200B or 4KB

	urls   []string    // rotated per request (several servers per auth mode)
	header http.Header // shared, read-only
	body   []byte
	want   []byte // exact answer expected; nil: a JSON-RPC result that is not a tool error

	proc      *child                   // the process whose CPU is charged to the target; nil for direct
	ours      []*child                 // every process the bench started (to tell its CPU from the host's)
	allocs    func() (memCount, error) // the process's allocation counters; nil for direct
	allocBase memCount                 // allocations caused by reading the counters once
}

// newLoadClient is the benchmark client: keep-alive, enough idle
// connections for the highest concurrency, no compression, HTTP/1.1 as
// MCP clients use on plain http.
func newLoadClient(maxConns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * maxConns,
			MaxIdleConnsPerHost: maxConns,
			IdleConnTimeout:     120 * time.Second,
			DisableCompression:  true,
		},
	}
}

// worker sends requests of one target and checks the answers.
type worker struct {
	client *http.Client
	t      *target
	buf    bytes.Buffer
	i      int // rotation position over t.urls
}

// do sends one request; it returns "" on success or a short reason.
func (w *worker) do(ctx context.Context) string {
	u := w.t.urls[w.i%len(w.t.urls)]
	w.i++
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(w.t.body))
	if err != nil {
		return err.Error()
	}
	req.Header = w.t.header
	resp, err := w.client.Do(req)
	if err != nil {
		return err.Error()
	}
	w.buf.Reset()
	_, err = w.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err.Error()
	}
	body := w.buf.Bytes()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d: %.300s", resp.StatusCode, body)
	}
	if w.t.want != nil {
		if !bytes.Equal(body, w.t.want) {
			return fmt.Sprintf("unexpected body (%d bytes): %.300s", len(body), body)
		}
		return ""
	}
	if !bytes.Contains(body, []byte(`"result":`)) || bytes.Contains(body, []byte(`"isError":true`)) {
		return fmt.Sprintf("not a successful tool result: %.300s", body)
	}
	return ""
}

// snapshot is the cost counters of a target's process at one instant.
type snapshot struct {
	at       time.Time
	cpu      time.Duration
	cpuOK    bool
	bench    time.Duration
	allocs   memCount
	allocsOK bool
	ours     time.Duration // bench, gateway and floor together
	host     time.Duration // busy time of the whole machine
	hostOK   bool
}

// take reads the counters. The allocation counter is read first at the
// start of a window and last at its end (after), so that the window's time
// and CPU figures do not include the scrape's own latency.
func (t *target) take(after bool) snapshot {
	var s snapshot
	readAllocs := func() {
		if t.allocs != nil {
			if n, err := t.allocs(); err == nil {
				s.allocs, s.allocsOK = n, true
			}
		}
	}
	if !after {
		readAllocs()
	}
	s.at = time.Now()
	if t.proc != nil {
		if c, err := procCPU(t.proc.pid()); err == nil {
			s.cpu, s.cpuOK = c, true
		}
	}
	s.bench = selfCPU()
	s.ours = s.bench
	for _, c := range t.ours {
		if d, err := procCPU(c.pid()); err == nil {
			s.ours += d
		}
	}
	if busy, _, err := hostCPU(); err == nil {
		s.host, s.hostOK = busy, true
	}
	if after {
		readAllocs()
	}
	return s
}

// measurement is the outcome of one measured run of one target.
type measurement struct {
	requests  int           // completed successfully inside the window
	errors    int           // failed requests, warm-up included
	firstErr  string        // the first failure, for the report
	window    time.Duration // length of the measured window
	lat       []int64       // latency (ns) of each request counted
	lag       []int64       // open loop: how late each request left (ns)
	dropped   int           // open loop: scheduled but never sent (backlog full or deadline)
	offered   float64       // open loop: arrival rate
	completed int           // open loop: answers that arrived inside the window
	cpu       time.Duration // target process CPU in the window
	cpuOK     bool
	bench     time.Duration // bench process CPU in the window
	allocs    memCount      // target process allocations in the window
	allocsOK  bool
	others    time.Duration // CPU used by processes the bench did not start
	othersOK  bool
}

// memCount is a process's cumulative heap allocations.
type memCount struct{ objects, bytes uint64 }

// minus returns m-o less base, each floored at zero.
func (m memCount) minus(o, base memCount) memCount {
	d := func(x, y, z uint64) uint64 {
		if x < y+z {
			return 0
		}
		return x - y - z
	}
	return memCount{d(m.objects, o.objects, base.objects), d(m.bytes, o.bytes, base.bytes)}
}

func (r *measurement) costs(a, b snapshot, base memCount) {
	r.window = b.at.Sub(a.at)
	if a.cpuOK && b.cpuOK {
		r.cpu, r.cpuOK = b.cpu-a.cpu, true
	}
	r.bench = b.bench - a.bench
	if a.hostOK && b.hostOK {
		r.others, r.othersOK = max(0, (b.host-a.host)-(b.ours-a.ours)), true
	}
	if a.allocsOK && b.allocsOK {
		r.allocs, r.allocsOK = b.allocs.minus(a.allocs, base), true
	}
}

// errCount collects failures from all workers.
type errCount struct {
	mu    sync.Mutex
	n     int
	first string
}

func (e *errCount) add(msg string) {
	e.mu.Lock()
	if e.n == 0 {
		e.first = msg
	}
	e.n++
	e.mu.Unlock()
}

// stamp is one completed request: when it ended and how long it took.
type stamp struct{ end, lat int64 }

// runClosed drives t with conc workers that each send the next request as
// soon as the previous one answered, for warmup and then the measured dur:
// the peak-throughput method.
func runClosed(client *http.Client, t *target, conc int, warmup, dur time.Duration) *measurement {
	start := time.Now()
	stop := start.Add(warmup + dur)
	ctx, cancel := context.WithDeadline(context.Background(), stop.Add(30*time.Second))
	defer cancel()
	var errs errCount
	stamps := make([][]stamp, conc)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{client: client, t: t, i: w}
			out := make([]stamp, 0, 4096)
			for {
				s := time.Now()
				if s.After(stop) {
					break
				}
				msg := wk.do(ctx)
				e := time.Now()
				if msg != "" {
					errs.add(msg)
					continue
				}
				out = append(out, stamp{end: e.Sub(start).Nanoseconds(), lat: e.Sub(s).Nanoseconds()})
			}
			stamps[w] = out
		}()
	}
	time.Sleep(time.Until(start.Add(warmup)))
	a := t.take(false)
	time.Sleep(time.Until(stop))
	b := t.take(true)
	wg.Wait()

	r := &measurement{errors: errs.n, firstErr: errs.first}
	r.costs(a, b, t.allocBase)
	lo, hi := a.at.Sub(start).Nanoseconds(), b.at.Sub(start).Nanoseconds()
	for _, ws := range stamps {
		for _, s := range ws {
			if s.end >= lo && s.end <= hi {
				r.lat = append(r.lat, s.lat)
			}
		}
	}
	r.requests = len(r.lat)
	return r
}

// maxInflight bounds the open-loop workers; requests beyond it wait in the
// schedule queue, and that wait is part of their latency.
const maxInflight = 512

// runOpen sends requests to t at a constant arrival rate, whatever the
// answers do, for warmup and then dur. A pacer releases each request into a
// queue at its scheduled time and never waits for answers; a request's
// latency runs from its release, so a slow answer cannot hide the requests
// queued behind it (no coordinated omission): waiting for a free worker is
// part of the latency. The pacer sleeps with the runtime's timers, which
// wake up to a millisecond late under load; late requests leave together
// (slightly bursty arrivals, the same for every target), and the lateness is
// reported as sched_lag.
func runOpen(client *http.Client, t *target, rate float64, warmup, dur time.Duration) *measurement {
	interval := time.Duration(float64(time.Second) / rate)
	total := int((warmup + dur).Seconds() * rate)
	start := time.Now()
	end := start.Add(warmup + dur)
	hard := end.Add(max(2*time.Second, dur)) // after this, queued requests are dropped
	ctx, cancel := context.WithDeadline(context.Background(), hard.Add(5*time.Second))
	defer cancel()

	// released is when the pacer let a request go, in ns since start.
	type sample struct{ released, lat int64 }
	var ended [maxInflight][]int64 // completion times, for the achieved rate
	queue := make(chan int64, 1<<16)
	var errs errCount
	var dropped atomic.Int64
	samples := make([][]sample, maxInflight)
	var wg sync.WaitGroup
	for w := 0; w < maxInflight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{client: client, t: t, i: w}
			var out []sample
			for released := range queue {
				if time.Now().After(hard) {
					dropped.Add(1)
					continue
				}
				msg := wk.do(ctx)
				e := time.Since(start).Nanoseconds()
				if msg != "" {
					errs.add(msg)
					continue
				}
				out = append(out, sample{released: released, lat: e - released})
				ended[w] = append(ended[w], e)
			}
			samples[w] = out
		}()
	}

	mStart, mEnd := start.Add(warmup), end
	// The counters are read off the pacer: a scrape takes about a
	// millisecond, which would otherwise delay the schedule.
	var a, b snapshot
	took := make(chan struct{})
	go func() {
		time.Sleep(time.Until(mStart))
		a = t.take(false)
		close(took)
	}()
	lag := make([]int64, 0, total)
	for i := 0; i < total; i++ {
		due := time.Duration(i) * interval
		now := time.Since(start)
		if now < due {
			time.Sleep(due - now)
			now = time.Since(start)
		}
		if due >= warmup {
			lag = append(lag, int64(now-due))
		}
		select {
		case queue <- int64(now):
		default:
			dropped.Add(1)
		}
	}
	close(queue)
	<-took
	time.Sleep(time.Until(mEnd))
	b = t.take(true)
	wg.Wait()

	r := &measurement{errors: errs.n, firstErr: errs.first, dropped: int(dropped.Load()), offered: rate, lag: lag}
	r.costs(a, b, t.allocBase)
	lo, hi := mStart.Sub(start).Nanoseconds(), mEnd.Sub(start).Nanoseconds()
	for _, ws := range samples {
		for _, s := range ws {
			if s.released >= lo && s.released < hi {
				r.lat = append(r.lat, s.lat)
			}
		}
	}
	for _, es := range ended {
		for _, e := range es {
			if e >= lo && e < hi {
				r.completed++
			}
		}
	}
	r.requests = len(r.lat)
	return r
}

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of sorted.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(p*float64(len(sorted))+0.999999999) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}

func sortedCopy(xs []int64) []int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}

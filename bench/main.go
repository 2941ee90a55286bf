package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is one run of the harness.
type config struct {
	Quick        bool
	Out          string // JSON report
	SVG          string // chart; "" = Out with .svg
	Rounds       int
	Warmup       time.Duration // per run, not measured
	Duration     time.Duration // measured part of a closed-loop run
	OpenDuration time.Duration // measured part of an open-loop run
	Concurrency  []int
	Delay        time.Duration // added by the fakes to every answer
	Binary       string        // prebuilt patchbay; "" = go build ./cmd/patchbay
	Targets      []string      // run only these targets; nil = all
	Log          io.Writer     // progress
}

// Main scenario of the issue: the ratios at the top of the report.
const (
	mainTarget      = "gateway-token-rest-200B"
	mainConcurrency = 32
)

func main() {
	if raw := os.Getenv(floorEnv); raw != "" {
		os.Exit(runFloorChild(raw))
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	r, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	writeTable(os.Stdout, r)
	fmt.Printf("\nwrote %s and %s in %.0f s\n", cfg.Out, cfg.SVG, r.DurationSeconds)
	for _, s := range r.Scenarios {
		if s.Errors > 0 {
			os.Exit(1)
		}
	}
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "short run (about a minute on 2 cores): 1 round, 1 s per run")
	out := fs.String("out", "report.json", "JSON report path")
	svg := fs.String("svg", "", "SVG chart path (default: -out with .svg)")
	rounds := fs.Int("rounds", 0, "interleaved rounds (default 3, quick 1)")
	warmup := fs.Duration("warmup", 0, "unmeasured start of every run (default 500ms, quick 250ms)")
	dur := fs.Duration("duration", 0, "measured time of a closed-loop run (default 3s, quick 1s)")
	open := fs.Duration("open-duration", 0, "measured time of an open-loop run (default 5s, quick 2s)")
	conc := fs.String("concurrency", "1,8,32", "closed-loop concurrencies")
	delay := fs.Duration("delay", 0, "delay the fakes add to every answer")
	bin := fs.String("patchbay", "", "prebuilt patchbay binary (default: go build ./cmd/patchbay)")
	only := fs.String("targets", "", "comma-separated target names to run (default: all 13)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := &config{Quick: *quick, Out: *out, SVG: *svg, Rounds: 3, Warmup: 500 * time.Millisecond,
		Duration: 3 * time.Second, OpenDuration: 5 * time.Second, Delay: *delay, Binary: *bin, Log: os.Stderr}
	if cfg.Quick {
		cfg.Rounds, cfg.Warmup, cfg.Duration, cfg.OpenDuration = 1, 250*time.Millisecond, time.Second, 2*time.Second
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	if *warmup > 0 {
		cfg.Warmup = *warmup
	}
	if *dur > 0 {
		cfg.Duration = *dur
	}
	if *open > 0 {
		cfg.OpenDuration = *open
	}
	for _, name := range strings.Split(*only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			cfg.Targets = append(cfg.Targets, name)
		}
	}
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("-concurrency: %q is not a number from 1 to 1024", f)
		}
		cfg.Concurrency = append(cfg.Concurrency, n)
	}
	return cfg, nil
}

// run starts everything, measures, and writes the report.
func run(cfg *config) (*Report, error) {
	began := time.Now()
	loadAtStart := loadAverage()
	if cfg.SVG == "" {
		cfg.SVG = strings.TrimSuffix(cfg.Out, filepath.Ext(cfg.Out)) + ".svg"
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			_, _ = fmt.Fprintf(cfg.Log, format+"\n", a...)
		}
	}
	tmp, err := os.MkdirTemp("", "patchbay-bench-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	bin := cfg.Binary
	if bin == "" {
		logf("building patchbay")
		if bin, err = buildPatchbay(tmp); err != nil {
			return nil, err
		}
	}
	f, err := startFakes(cfg.Delay)
	if err != nil {
		return nil, err
	}
	defer f.close()
	floor, err := startFloor(f)
	if err != nil {
		return nil, err
	}
	defer floor.stop()
	adminKey := "pb_" + randomKey(40)
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	gw, err := startPatchbay(bin, data, adminKey)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	logf("patchbay at %s (pid %d), floor at %s (pid %d), REST fake at %s, MCP fake at %s",
		gw.URL, gw.pid(), floor.URL, floor.pid(), f.restURL, f.mcpURL)
	s, err := seed(gw.URL, adminKey, f)
	if err != nil {
		return nil, fmt.Errorf("%w\npatchbay output:\n%s", err, gw.output)
	}

	maxConc := maxInflight
	for _, c := range cfg.Concurrency {
		maxConc = max(maxConc, c)
	}
	client := newLoadClient(maxConc)
	scrape := &http.Client{Timeout: 10 * time.Second}
	targets, err := buildTargets(f, floor, gw, s, scrape)
	if err != nil {
		return nil, err
	}
	if targets, err = selectTargets(targets, cfg.Targets); err != nil {
		return nil, err
	}

	// Check every target once and warm its connections and caches.
	for _, t := range targets {
		wk := &worker{client: client, t: t}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for i := 0; i < 2*serversPerMode; i++ {
			if msg := wk.do(ctx); msg != "" {
				cancel()
				return nil, fmt.Errorf("%s does not work: %s\npatchbay output:\n%s", t.Name, msg, gw.output)
			}
		}
		cancel()
	}

	var order []*scenarioRuns
	closed := map[string]*scenarioRuns{}
	for r := 0; r < cfg.Rounds; r++ {
		for _, c := range cfg.Concurrency {
			for i := range targets {
				// Rotate the order every round so that no target always runs
				// right after the same neighbour.
				t := targets[(i+r)%len(targets)]
				k := fmt.Sprintf("%s/%d", t.Name, c)
				sr := closed[k]
				if sr == nil {
					sr = &scenarioRuns{t: t, mode: "closed", concurrency: c}
					closed[k] = sr
					order = append(order, sr)
				}
				res := runClosed(client, t, c, cfg.Warmup, cfg.Duration)
				sr.runs = append(sr.runs, res)
				logf("round %d/%d  %-32s c=%-3d %8.0f req/s  errors %d", r+1, cfg.Rounds, t.Name, c,
					float64(res.requests)/res.window.Seconds(), res.errors)
			}
		}
	}

	// Open loop at two arrival rates: half of the direct peak (the issue's
	// latency target) and half of the gateway's own peak (a load it can
	// sustain, where the percentiles are not queueing).
	peak := func(name string) float64 { // best closed-loop median rate
		p := 0.0
		for _, sr := range order {
			if sr.t.Name == name {
				p = max(p, sr.summarize().RPS)
			}
		}
		return p
	}
	rates := []struct {
		label string
		rate  float64
	}{{"50pct-direct-peak", peak("direct-rest-200B") / 2}, {"50pct-gateway-peak", peak(mainTarget) / 2}}
	var openTargets []*target
	for _, t := range targets {
		if t.Connector == "rest" && t.Size == "200B" && (t.Path != "gateway" || t.Name == mainTarget) {
			openTargets = append(openTargets, t)
		}
	}
	open := map[string]*scenarioRuns{}
	for r := 0; r < cfg.Rounds; r++ {
		for _, rt := range rates {
			if rt.rate < 1 {
				continue
			}
			for i := range openTargets {
				t := openTargets[(i+r)%len(openTargets)]
				k := t.Name + "/" + rt.label
				sr := open[k]
				if sr == nil {
					sr = &scenarioRuns{t: t, mode: "open", label: rt.label, offered: rt.rate}
					open[k] = sr
					order = append(order, sr)
				}
				// A rate above what the target sustains closed-loop only
				// measures an ever-growing queue (and leaves a backlog that
				// disturbs the next runs): record it as not sustainable.
				if p := peak(t.Name); rt.rate > p {
					sr.skipped = fmt.Sprintf("offered %.0f req/s is above this target's closed-loop peak of %.0f req/s", rt.rate, p)
					logf("round %d/%d  %-32s open %6.0f/s: skipped, peak %.0f/s", r+1, cfg.Rounds, t.Name, rt.rate, p)
					continue
				}
				res := runOpen(client, t, rt.rate, cfg.Warmup, cfg.OpenDuration)
				sr.runs = append(sr.runs, res)
				logf("round %d/%d  %-32s open %6.0f/s: p99 %7.0f us  errors %d dropped %d", r+1, cfg.Rounds, t.Name, rt.rate,
					us(percentile(sortedCopy(res.lat), 0.99)), res.errors, res.dropped)
			}
		}
	}

	rep := &Report{Schema: "patchbay-bench/1", StartedAt: began.UTC().Format(time.RFC3339), Machine: machine(),
		Settings: Settings{Quick: cfg.Quick, Rounds: cfg.Rounds, WarmupSeconds: cfg.Warmup.Seconds(),
			SecondsPerRun: cfg.Duration.Seconds(), OpenSeconds: cfg.OpenDuration.Seconds(), Concurrency: cfg.Concurrency,
			UpstreamDelayUS: float64(cfg.Delay.Microseconds()), ServersPerMode: serversPerMode},
		MainScenario: fmt.Sprintf("%s/c%d", mainTarget, mainConcurrency)}
	rep.Machine.LoadAverage = loadAtStart
	for _, sr := range order {
		sc := sr.summarize()
		rep.Machine.MaxOtherCPUPct = max(rep.Machine.MaxOtherCPUPct, sc.OtherCPUPct)
		rep.Scenarios = append(rep.Scenarios, sc)
	}
	compare(rep.Scenarios)
	if m := scenarioByName(rep.Scenarios, rep.MainScenario); m != nil {
		rep.GatewayOverFloor, rep.GatewayOverDirect = m.GatewayOverFloor, m.GatewayOverDirect
	}
	rep.Targets = goals(rep)
	rep.DurationSeconds = round1(time.Since(began).Seconds())
	if err := writeJSON(cfg.Out, rep); err != nil {
		return nil, err
	}
	if err := writeSVG(cfg.SVG, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// goals evaluates the targets against the report.
func goals(r *Report) []Goal {
	var gs []Goal
	get := func(name string) *Scenario { return scenarioByName(r.Scenarios, name) }
	if m := get(r.MainScenario); m != nil && m.GatewayOverFloor > 0 {
		gs = append(gs, Goal{Name: "throughput vs floor", Goal: ">= 0.85", Measured: m.GatewayOverFloor, Unit: "x",
			Met: m.GatewayOverFloor >= 0.85, Basis: m.Name})
	}
	if g := get(mainTarget + "/c1"); g != nil {
		gs = append(gs,
			Goal{Name: "added median latency vs floor", Goal: "<= 25", Measured: g.AddedP50VsFloorUS, Unit: "us",
				Met: g.AddedP50VsFloorUS <= 25, Basis: g.Name + " vs floor-rest-200B/c1"},
			Goal{Name: "added median latency vs direct", Goal: "<= 100", Measured: g.AddedP50VsDirectUS, Unit: "us",
				Met: g.AddedP50VsDirectUS <= 100, Basis: g.Name + " vs direct-rest-200B/c1"})
	}
	if g := get(mainTarget + "/open-50pct-direct-peak"); g != nil {
		goal := Goal{Name: "added p99 vs direct, half direct peak", Goal: "<= 1000", Measured: g.AddedP99VsDirectUS,
			Unit: "us", Met: g.Skipped == "" && !g.Saturated && g.AddedP99VsDirectUS <= 1000 && g.Errors == 0,
			Basis: fmt.Sprintf("%s at %.0f req/s", g.Name, g.OfferedRPS)}
		switch d := get("direct-rest-200B/open-50pct-direct-peak"); {
		case g.Skipped != "":
			goal.Basis += ": not sustainable, " + g.Skipped
		case g.Saturated:
			goal.Basis += fmt.Sprintf(": saturated, answers at %.0f req/s", g.RPS)
		case d != nil && (d.Saturated || d.HarnessLimited):
			goal.Basis += ": the direct run itself was saturated or harness-limited, comparison void"
			goal.Met = false
		}
		gs = append(gs, goal)
	}
	if m := get(r.MainScenario); m != nil {
		errs := 0
		for _, s := range r.Scenarios {
			if s.Path == "gateway" {
				errs += s.Errors + s.Dropped
			}
		}
		gs = append(gs, Goal{Name: "execute_action calls/s, zero errors", Goal: ">= 5000", Measured: m.RPS, Unit: "req/s",
			Met: m.RPS >= 5000 && errs == 0, Basis: fmt.Sprintf("%s; %d gateway errors in the run", m.Name, errs)})
	}
	return gs
}

// buildTargets describes the 13 ways of fetching the documents.
func buildTargets(f *fakes, floor, gw *child, s *seeded, scrape *http.Client) ([]*target, error) {
	mcpHeader := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	call := func(tool string, args any) []byte {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
			"params": map[string]any{"name": tool, "arguments": args}})
		return b
	}
	execute := func(connectorID, actionID string) []byte {
		return call("execute_action_alloy", map[string]any{"connectorId": connectorID, "actionId": actionID, "parameters": map[string]any{}})
	}
	bearer := "Bearer " + platformToken

	gwAllocs := func() (memCount, error) { return mallocs(scrape, gw.URL+"/metrics") }
	floorAllocs := func() (memCount, error) { return floorMallocsAt(scrape, floor.URL) }
	var ts []*target
	add := func(t *target) { ts = append(ts, t) }
	for _, size := range []struct {
		name, action, floorPath, restPath string
		body                              []byte
		all                               bool
	}{{"200B", "get_small", floorSmall, "/v1/small", f.small, true}, {"4KB", "get_large", floorLarge, "/v1/large", f.large, false}} {
		// REST: the same execute body is POSTed to the fake directly and via
		// the floor, so request sizes match the gateway's.
		body := execute(restConnector, size.action)
		add(&target{Name: "direct-rest-" + size.name, Path: "direct", Connector: "rest", Size: size.name,
			urls: []string{f.restURL + size.restPath}, header: mcpHeader("Authorization", bearer), body: body, want: size.body})
		add(&target{Name: "floor-rest-" + size.name, Path: "floor", Connector: "rest", Size: size.name,
			urls: []string{floor.URL + size.floorPath}, header: mcpHeader("Authorization", bearer), body: body, want: size.body,
			proc: floor, allocs: floorAllocs})
		add(&target{Name: "gateway-token-rest-" + size.name, Path: "gateway", Auth: "token", Connector: "rest", Size: size.name,
			urls: s.tokenURLs, header: mcpHeader(), body: body, proc: gw, allocs: gwAllocs})
		if !size.all {
			continue
		}
		add(&target{Name: "gateway-apikey-rest-" + size.name, Path: "gateway", Auth: "apikey", Connector: "rest", Size: size.name,
			urls: s.keyURLs, header: mcpHeader("Authorization", "Bearer "+s.userKey), body: body, proc: gw, allocs: gwAllocs})
		add(&target{Name: "gateway-jwt-rest-" + size.name, Path: "gateway", Auth: "jwt", Connector: "rest", Size: size.name,
			urls: s.publicURLs, header: mcpHeader("x-alloy-user-token", s.userJWT), body: body, proc: gw, allocs: gwAllocs})

		// MCP upstream: a plain tools/call directly and via the floor.
		direct := call(size.action, map[string]any{})
		add(&target{Name: "direct-mcp-" + size.name, Path: "direct", Connector: "mcp", Size: size.name,
			urls: []string{f.mcpURL}, header: mcpHeader("Authorization", bearer), body: direct})
		add(&target{Name: "floor-mcp-" + size.name, Path: "floor", Connector: "mcp", Size: size.name,
			urls: []string{floor.URL + floorMCP}, header: mcpHeader("Authorization", bearer), body: direct,
			proc: floor, allocs: floorAllocs})
		body = execute(mcpConnector, size.action)
		for _, m := range []struct {
			auth string
			urls []string
			h    http.Header
		}{{"token", s.tokenURLs, mcpHeader()}, {"apikey", s.keyURLs, mcpHeader("Authorization", "Bearer "+s.userKey)},
			{"jwt", s.publicURLs, mcpHeader("x-alloy-user-token", s.userJWT)}} {
			add(&target{Name: "gateway-" + m.auth + "-mcp-" + size.name, Path: "gateway", Auth: m.auth, Connector: "mcp",
				Size: size.name, urls: m.urls, header: m.h, body: body, proc: gw, allocs: gwAllocs})
		}
	}
	for _, t := range ts {
		t.ours = []*child{floor, gw}
	}
	// What reading a counter allocates in its own process, measured at rest
	// and subtracted from every window (one read per window falls inside).
	for _, t := range ts {
		if t.allocs == nil {
			continue
		}
		a, err := t.allocs()
		if err != nil {
			return nil, fmt.Errorf("%s: allocation counter: %w", t.Name, err)
		}
		b, err := t.allocs()
		if err != nil {
			return nil, fmt.Errorf("%s: allocation counter: %w", t.Name, err)
		}
		t.allocBase = b.minus(a, memCount{})
	}
	return ts, nil
}

// selectTargets keeps the named targets, in their usual order.
func selectTargets(all []*target, names []string) ([]*target, error) {
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []*target
	for _, t := range all {
		if want[t.Name] {
			out = append(out, t)
			delete(want, t.Name)
		}
	}
	for n := range want {
		var known []string
		for _, t := range all {
			known = append(known, t.Name)
		}
		return nil, fmt.Errorf("-targets: unknown target %q (known: %s)", n, strings.Join(known, ", "))
	}
	return out, nil
}

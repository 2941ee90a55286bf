package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Report is the JSON document the harness writes.
type Report struct {
	Schema          string   `json:"schema"`
	StartedAt       string   `json:"started_at"`
	DurationSeconds float64  `json:"duration_seconds"`
	Machine         Machine  `json:"machine"`
	Settings        Settings `json:"settings"`

	// MainScenario is the scenario the top-level ratios describe: token URL,
	// REST connector, 200 B answers, concurrency 32, closed loop.
	MainScenario      string  `json:"main_scenario"`
	GatewayOverFloor  float64 `json:"gateway_over_floor"`
	GatewayOverDirect float64 `json:"gateway_over_direct"`

	Targets   []Goal     `json:"targets"`
	Scenarios []Scenario `json:"scenarios"`
}

// Machine describes where the numbers come from.
type Machine struct {
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Commit    string `json:"commit,omitempty"`
	// LoadAverage is the one-minute load average when the run started, and
	// MaxOtherCPUPct the highest other_cpu_pct of any scenario: a busy
	// machine makes every figure, and the ratios less so, unreliable.
	LoadAverage    float64 `json:"load_average_at_start"`
	MaxOtherCPUPct float64 `json:"max_other_cpu_pct"`
}

// Settings are the run's parameters.
type Settings struct {
	Quick           bool    `json:"quick"`
	Rounds          int     `json:"rounds"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	SecondsPerRun   float64 `json:"seconds_per_run"`
	OpenSeconds     float64 `json:"open_loop_seconds"`
	Concurrency     []int   `json:"concurrency"`
	UpstreamDelayUS float64 `json:"upstream_delay_us"`
	ServersPerMode  int     `json:"servers_per_auth_mode"`
}

// Scenario is one target under one load, aggregated over the rounds.
type Scenario struct {
	Name        string  `json:"name"`
	Target      string  `json:"target"`
	Path        string  `json:"path"` // direct, floor or gateway
	Auth        string  `json:"auth,omitempty"`
	Connector   string  `json:"connector"`
	Size        string  `json:"size"`
	Mode        string  `json:"mode"` // closed or open
	Concurrency int     `json:"concurrency,omitempty"`
	OfferedRPS  float64 `json:"offered_rps,omitempty"`
	// Saturated is set in open loop when answers arrived at less than 95%
	// of the offered rate (rps is the rate at which they arrived): the
	// latencies then measure a growing queue.
	Saturated bool `json:"saturated,omitempty"`
	// HarnessLimited is set in open loop when the pacer itself ran late
	// (sched_lag p99 above 5 ms): the bench process lacked CPU, so the
	// latencies include the harness's own queueing.
	HarnessLimited bool `json:"harness_limited,omitempty"`

	RPS        float64   `json:"rps"` // median over rounds
	RoundsRPS  []float64 `json:"rounds_rps"`
	Requests   int       `json:"requests"`
	Errors     int       `json:"errors"`
	Dropped    int       `json:"dropped,omitempty"`
	FirstError string    `json:"first_error,omitempty"`

	P50US float64 `json:"p50_us"`
	P90US float64 `json:"p90_us"`
	P99US float64 `json:"p99_us"`
	MaxUS float64 `json:"max_us"`
	// SchedLagP99US is, in open loop, how late the pacer released requests
	// (timer wake-ups): a measure of the harness's own jitter.
	SchedLagP99US float64 `json:"sched_lag_p99_us,omitempty"`

	// CPU and allocations of the process between client and upstream
	// (cpu_process: gateway, floor, or none for direct runs, where they are 0).
	CPUProcess       string  `json:"cpu_process"`
	CPUUSPerReq      float64 `json:"cpu_us_per_req"`
	AllocsPerReq     float64 `json:"allocs_per_req"`
	AllocBytesPerReq float64 `json:"alloc_bytes_per_req"`
	BenchCPUUSPerReq float64 `json:"bench_cpu_us_per_req"` // client and fakes
	// OtherCPUPct is the share of the machine's CPUs that processes the
	// bench did not start used during the runs: above a few percent the
	// numbers are disturbed.
	OtherCPUPct float64 `json:"other_cpu_pct"`
	Skipped     string  `json:"skipped,omitempty"`
	// GatewayOverFloor and GatewayOverDirect are closed-loop throughput
	// ratios: the median over rounds of the per-round ratios (listed in the
	// *_rounds members).
	GatewayOverFloor   float64   `json:"gateway_over_floor,omitempty"`
	GatewayOverDirect  float64   `json:"gateway_over_direct,omitempty"`
	OverFloorRounds    []float64 `json:"gateway_over_floor_rounds,omitempty"`
	OverDirectRounds   []float64 `json:"gateway_over_direct_rounds,omitempty"`
	AddedP50VsFloorUS  float64   `json:"added_p50_vs_floor_us,omitempty"`
	AddedP50VsDirectUS float64   `json:"added_p50_vs_direct_us,omitempty"`
	AddedP99VsDirectUS float64   `json:"added_p99_vs_direct_us,omitempty"`
	// CPUOverFloor is the gateway's CPU per request over the floor's: unlike
	// the throughput ratios it hardly depends on what else the machine runs.
	CPUOverFloor float64 `json:"cpu_over_floor,omitempty"`
}

// Goal is one target of the issue, with what this run measured.
type Goal struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured float64 `json:"measured"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
	Basis    string  `json:"basis"` // the scenarios compared
}

// scenarioRuns accumulates the rounds of one scenario.
type scenarioRuns struct {
	t           *target
	mode        string
	concurrency int
	label       string  // open loop: which rate
	offered     float64 // open loop: the rate
	skipped     string  // why the scenario was not run
	runs        []*measurement
}

func (s *scenarioRuns) name() string {
	if s.mode == "closed" {
		return fmt.Sprintf("%s/c%d", s.t.Name, s.concurrency)
	}
	return s.t.Name + "/open-" + s.label
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// summarize turns the rounds into a Scenario.
func (s *scenarioRuns) summarize() Scenario {
	sc := Scenario{Name: s.name(), Target: s.t.Name, Path: s.t.Path, Auth: s.t.Auth, Connector: s.t.Connector,
		Size: s.t.Size, Mode: s.mode, Concurrency: s.concurrency, OfferedRPS: round1(s.offered), CPUProcess: "none",
		Skipped: s.skipped, RoundsRPS: []float64{}}
	if s.t.proc != nil {
		sc.CPUProcess = s.t.Path
	}
	var lat, lag []int64
	var cpu, bench time.Duration
	var cpuReqs, allocReqs int
	var allocs memCount
	var others, othersWindow time.Duration
	for _, r := range s.runs {
		secs := r.window.Seconds()
		rps := 0.0
		if secs > 0 {
			rps = float64(r.requests) / secs
			if s.mode == "open" {
				rps = float64(r.completed) / secs
			}
		}
		sc.RoundsRPS = append(sc.RoundsRPS, round1(rps))
		sc.Requests += r.requests
		sc.Errors += r.errors
		sc.Dropped += r.dropped
		if sc.FirstError == "" {
			sc.FirstError = r.firstErr
		}
		lat = append(lat, r.lat...)
		lag = append(lag, r.lag...)
		bench += r.bench
		if r.cpuOK {
			cpu += r.cpu
			cpuReqs += r.requests
		}
		if r.allocsOK {
			allocs.objects += r.allocs.objects
			allocs.bytes += r.allocs.bytes
			allocReqs += r.requests
		}
		if r.othersOK {
			others += r.others
			othersWindow += r.window
		}
	}
	if othersWindow > 0 {
		sc.OtherCPUPct = round1(100 * others.Seconds() / (othersWindow.Seconds() * float64(runtime.NumCPU())))
	}
	sc.RPS = median(sc.RoundsRPS)
	if s.mode == "open" && len(s.runs) > 0 {
		sc.Saturated = sc.RPS < 0.95*s.offered || sc.Dropped > 0
	}
	slices.Sort(lat)
	sc.P50US, sc.P90US, sc.P99US = us(percentile(lat, 0.50)), us(percentile(lat, 0.90)), us(percentile(lat, 0.99))
	if len(lat) > 0 {
		sc.MaxUS = us(lat[len(lat)-1])
	}
	if len(lag) > 0 {
		slices.Sort(lag)
		sc.SchedLagP99US = round1(us(percentile(lag, 0.99)))
		sc.HarnessLimited = sc.SchedLagP99US > 5000
	}
	if cpuReqs > 0 {
		sc.CPUUSPerReq = round1(float64(cpu.Microseconds()) / float64(cpuReqs))
	}
	if allocReqs > 0 {
		sc.AllocsPerReq = round1(float64(allocs.objects) / float64(allocReqs))
		sc.AllocBytesPerReq = float64(int64(float64(allocs.bytes) / float64(allocReqs)))
	}
	if sc.Requests > 0 {
		sc.BenchCPUUSPerReq = round1(float64(bench.Microseconds()) / float64(sc.Requests))
	}
	return sc
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return round1((s[len(s)/2-1] + s[len(s)/2]) / 2)
}

// compare fills the gateway scenarios' ratios against the floor and direct
// scenarios with the same connector, size and load.
func compare(scs []Scenario) {
	type key struct {
		path, connector, size, mode string
		conc                        int
		offered                     float64
	}
	find := map[key]*Scenario{}
	for i := range scs {
		s := &scs[i]
		find[key{s.Path, s.Connector, s.Size, s.Mode, s.Concurrency, s.OfferedRPS}] = s
	}
	for i := range scs {
		s := &scs[i]
		if s.Path != "gateway" || s.Skipped != "" {
			continue
		}
		k := key{"floor", s.Connector, s.Size, s.Mode, s.Concurrency, s.OfferedRPS}
		if f := find[k]; f != nil && f.Skipped == "" {
			if s.Mode == "closed" {
				s.GatewayOverFloor, s.OverFloorRounds = pairedRatio(s.RoundsRPS, f.RoundsRPS)
			}
			s.AddedP50VsFloorUS = round1(s.P50US - f.P50US)
			if f.CPUUSPerReq > 0 && s.CPUUSPerReq > 0 {
				s.CPUOverFloor = round1(s.CPUUSPerReq / f.CPUUSPerReq)
			}
		}
		k.path = "direct"
		if d := find[k]; d != nil && d.Skipped == "" {
			if s.Mode == "closed" {
				s.GatewayOverDirect, s.OverDirectRounds = pairedRatio(s.RoundsRPS, d.RoundsRPS)
			}
			s.AddedP50VsDirectUS = round1(s.P50US - d.P50US)
			s.AddedP99VsDirectUS = round1(s.P99US - d.P99US)
		}
	}
	for i := range scs {
		s := &scs[i]
		s.P50US, s.P90US, s.P99US, s.MaxUS = round1(s.P50US), round1(s.P90US), round1(s.P99US), round1(s.MaxUS)
	}
}

// pairedRatio divides the gateway's rate by its peer's round by round (the
// two ran close together in each round, on the same machine state) and
// returns the median of those ratios and the ratios themselves. A median of
// per-round ratios is steadier than a ratio of medians taken from different
// rounds when the machine's load drifts.
func pairedRatio(gw, peer []float64) (float64, []float64) {
	var rs []float64
	for i := range min(len(gw), len(peer)) {
		if peer[i] > 0 {
			rs = append(rs, round3(gw[i]/peer[i]))
		}
	}
	if len(rs) == 0 {
		return 0, nil
	}
	s := slices.Clone(rs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return round3(m), rs
}

func scenarioByName(scs []Scenario, name string) *Scenario {
	for i := range scs {
		if scs[i].Name == name {
			return &scs[i]
		}
	}
	return nil
}

// machine describes this host.
func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeTable prints the scenarios as an aligned text table.
func writeTable(w io.Writer, r *Report) {
	_, _ = fmt.Fprintf(w, "%-48s %9s %9s %9s %9s %8s %9s %7s %7s\n", "scenario", "rps", "p50_us", "p90_us", "p99_us", "cpu_us", "allocs", "/floor", "errors")
	for _, s := range r.Scenarios {
		ratio := ""
		if s.GatewayOverFloor > 0 {
			ratio = fmt.Sprintf("%.3f", s.GatewayOverFloor)
		}
		note := ""
		switch {
		case s.Skipped != "":
			note = "  not run: above peak"
		case s.Saturated:
			note = fmt.Sprintf("  saturated at %.0f/s offered", s.OfferedRPS)
		case s.HarnessLimited:
			note = fmt.Sprintf("  harness-limited (pacer %.0f us late)", s.SchedLagP99US)
		}
		_, _ = fmt.Fprintf(w, "%-48s %9.0f %9.1f %9.1f %9.1f %8.1f %9.1f %7s %7d%s\n", s.Name, s.RPS, s.P50US, s.P90US, s.P99US,
			s.CPUUSPerReq, s.AllocsPerReq, ratio, s.Errors+s.Dropped, note)
	}
	_, _ = fmt.Fprintf(w, "\nmain scenario %s: gateway/floor %.3f, gateway/direct %.3f\n", r.MainScenario, r.GatewayOverFloor, r.GatewayOverDirect)
	for _, g := range r.Targets {
		mark := "MISSED"
		if g.Met {
			mark = "met"
		}
		_, _ = fmt.Fprintf(w, "  %-6s %-34s %10.1f %-5s (goal %s)\n", mark, g.Name, g.Measured, g.Unit, g.Goal)
	}
}

// writeSVG draws the closed-loop throughput of every scenario as a
// horizontal bar chart, grouped by concurrency.
func writeSVG(path string, r *Report) error {
	var rows []Scenario
	for _, s := range r.Scenarios {
		if s.Mode == "closed" {
			rows = append(rows, s)
		}
	}
	const (
		left, barH, gap, top, width, right = 250, 14, 4, 48, 900, 90
	)
	maxRPS := 1.0
	for _, s := range rows {
		maxRPS = max(maxRPS, s.RPS)
	}
	height := top + len(rows)*(barH+gap) + 30
	colors := map[string]string{"direct": "#9e9e9e", "floor": "#4a78c2", "gateway": "#e07b24"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="14" font-weight="bold">Patchbay bench: requests/s, closed loop (%s, %d cores, %s)</text>`+"\n",
		html.EscapeString(r.Machine.CPUModel), r.Machine.NProc, html.EscapeString(r.Machine.GoVersion))
	fmt.Fprintf(&b, `<text x="10" y="36">%s: gateway/floor %.3f, gateway/direct %.3f. Grey: direct, blue: floor forwarder, orange: Patchbay.</text>`+"\n",
		html.EscapeString(r.MainScenario), r.GatewayOverFloor, r.GatewayOverDirect)
	for i, s := range rows {
		y := top + i*(barH+gap)
		w := int(float64(width-left-right) * s.RPS / maxRPS)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-6, y+barH-3, html.EscapeString(s.Name))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`, left, y, max(w, 1), barH, colors[s.Path])
		fmt.Fprintf(&b, `<text x="%d" y="%d">%.0f</text>`+"\n", left+w+4, y+barH-3, s.RPS)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

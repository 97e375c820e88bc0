package mediabench

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/metrics/hist"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/report"
)

// KindMedia is the "kind" of a bench media report.
const KindMedia = "media"

// Report is the result of `bench media`. Every aggregate is computed from
// Results, the per-subscriber records, which --out keeps so that reports of
// child processes or separate machines merge exactly.
type Report struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Targets count the subscribers sent to each URL when the run spread
	// them over several (Target then lists them, comma-separated).
	Targets     []bench.TargetCount `json:"targets,omitempty"`
	Protocol    string              `json:"protocol"`
	Room        string              `json:"room,omitempty"`
	DurationS   float64             `json:"duration_s"`
	Runs        int                 `json:"runs"`
	Interrupted bool                `json:"interrupted,omitempty"`
	Settings    Settings            `json:"settings"`
	Subscribers Counts              `json:"subscribers"`
	// Errors counts failed subscribers by the phase they did not reach;
	// ErrorDetail by "phase:reason".
	Errors      map[string]int64 `json:"errors"`
	ErrorDetail map[string]int64 `json:"error_detail,omitempty"`
	// FirstFrameMS is first_decoded (first_keyframe for H.264) over the
	// subscribers that got there; PhasesMS each probe phase.
	FirstFrameMS hist.Summary            `json:"first_frame_ms"`
	PhasesMS     map[string]hist.Summary `json:"phases_ms"`
	// PerSubscriber holds, for each figure, its distribution over the
	// subscribers that received media.
	PerSubscriber map[string]Dist `json:"per_subscriber"`
	Totals        Totals          `json:"totals"`
	// Worst lists the worst subscribers: failed ones first, then by
	// freezes, loss and first-frame time.
	Worst []Result `json:"worst"`
	// LayerMix is what a simulcast server sent: per group of subscribers
	// (all, or shaped and unshaped) the size each ended on, the time at
	// each size and the switches. Absent when every subscriber received
	// one size and none was shaped.
	LayerMix   []LayerGroup    `json:"layer_mix,omitempty"`
	Publishers []publish.Stats `json:"publishers,omitempty"`
	Server     *Server         `json:"server,omitempty"`
	Client     Client          `json:"client"`
	Generator  bench.Generator `json:"generator"`
	// Saturated says the generator may have limited the results (its own
	// judgement, or it cost more CPU per subscriber than the server).
	Saturated bool     `json:"saturated"`
	Warnings  []string `json:"warnings,omitempty"`
	// Series is the run second by second (coarser past
	// bench.MaxSeriesPoints): subscribers receiving (Open), started
	// (Attempts) and failed in each step, their first frames
	// (SeriesFirstFrame) and the Count* names' counts.
	Series *bench.Series `json:"series,omitempty"`
	// Envelope: the run's context (start, end, version, host, settings)
	// and its assertions' outcomes.
	report.Envelope
	// Results are every subscriber's figures; written by --out.
	Results []Result `json:"results,omitempty"`
}

// Settings echo what was asked for.
type Settings struct {
	Subscribers int     `json:"subscribers"`
	Publishers  int     `json:"publishers"`
	Rate        float64 `json:"rate"`
	HoldS       float64 `json:"hold_s"`
	TimeoutS    float64 `json:"timeout_s"`
	Procs       int     `json:"procs"`
}

// Counts count subscribers.
type Counts struct {
	Attempted int64 `json:"attempted"`
	// OK subscribers reached their first frame.
	OK     int64 `json:"ok"`
	Failed int64 `json:"failed"`
	// Dropped subscribers got a first frame and then lost the stream
	// before the end of the run (the server or the network ended it).
	Dropped int64 `json:"dropped"`
}

// Totals add up every subscriber.
type Totals struct {
	Packets     int64   `json:"packets"`
	Bytes       int64   `json:"bytes"`
	BitrateKbps float64 `json:"bitrate_kbps"` // sum of subscribers' bitrates
	PacketsLost int64   `json:"packets_lost"` // after NACK recovery
	LossPct     float64 `json:"loss_pct"`
	// Late packets filled a gap: reordered, or retransmitted after a NACK.
	Late          int64   `json:"late"`
	NACKs         int64   `json:"nacks"`
	NACKedPackets int64   `json:"nacked_packets"`
	PLIs          int64   `json:"plis"`
	Frames        int64   `json:"frames"`
	Freezes       int64   `json:"freezes"`
	FreezeS       float64 `json:"freeze_s"`
}

// Dist is a figure's distribution over subscribers (exact, from every value).
type Dist struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Result is one subscriber.
type Result struct {
	ID int `json:"id"`
	// Target is the URL the subscriber played from, when the run spread
	// subscribers over several.
	Target       string             `json:"target,omitempty"`
	PhasesMS     map[string]float64 `json:"phases_ms"`
	FirstFrameMS float64            `json:"first_frame_ms,omitempty"`
	Codec        string             `json:"codec,omitempty"`
	Width        int                `json:"width,omitempty"`
	Height       int                `json:"height,omitempty"`
	Black        bool               `json:"black,omitempty"`
	// ReceiveS is how long the subscriber was counted (first packet to the
	// end of the window); BitrateKbps is every RTP byte over it.
	ReceiveS      float64 `json:"receive_s"`
	BitrateKbps   float64 `json:"bitrate_kbps"`
	Packets       int64   `json:"packets"`
	Bytes         int64   `json:"bytes"`
	PacketsLost   int64   `json:"packets_lost"`
	LossPct       float64 `json:"loss_pct"`
	Late          int64   `json:"late"`
	JitterMS      float64 `json:"jitter_ms"`
	AudioJitterMS float64 `json:"audio_jitter_ms,omitempty"`
	NACKs         int64   `json:"nacks"`
	NACKedPackets int64   `json:"nacked_packets"`
	PLIs          int64   `json:"plis"`
	Frames        int     `json:"frames"`
	FPS           float64 `json:"fps"`
	Freezes       int     `json:"freezes"`
	FreezeMS      float64 `json:"freeze_ms"`
	MaxGapMS      float64 `json:"max_frame_gap_ms"`
	Dropped       bool    `json:"dropped,omitempty"`
	// Shaped says the subscriber's path was held to the run's shape rate.
	Shaped bool `json:"shaped,omitempty"`
	// Layers, LayerSwitches and TimeAtLayerMS are the picture sizes the
	// subscriber received over time, as probe reports them.
	Layers        []probe.LayerSpan  `json:"layers,omitempty"`
	LayerSwitches int                `json:"layer_switches,omitempty"`
	TimeAtLayerMS map[string]float64 `json:"time_at_layer_ms,omitempty"`
	// FailedPhase is the probe phase not reached; Reason a short class of
	// Error for counting.
	FailedPhase string `json:"failed_phase,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Error       string `json:"error,omitempty"`
}

// OK reports whether the subscriber reached its first frame.
func (r *Result) OK() bool { return r.FailedPhase == "" }

// Server is the target's side of the run.
type Server struct {
	// Samples is how many /v1/stats documents were read (one a second).
	Samples int `json:"samples"`
	// CPU comes from /proc/<pid>/stat when the server runs on this machine
	// (--server-pid): cores used during the hold, and per subscriber.
	CPUCoresHold             float64 `json:"cpu_cores_hold,omitempty"`
	CPUCoresMax              float64 `json:"cpu_cores_max,omitempty"`
	MillicoresPerSubscriber  float64 `json:"millicores_per_subscriber,omitempty"`
	RSSPeakBytes             uint64  `json:"rss_peak_bytes,omitempty"`
	HeapPeakBytes            uint64  `json:"heap_peak_bytes,omitempty"`
	GoroutinesPeak           int     `json:"goroutines_peak,omitempty"`
	GoroutinesPerSubscriber  float64 `json:"goroutines_per_subscriber,omitempty"`
	BitrateOutKbps           float64 `json:"bitrate_out_kbps,omitempty"` // during the hold
	PacketsLost              uint64  `json:"packets_lost"`               // counted by the server during the run
	NACKs                    uint64  `json:"nacks"`
	PLIs                     uint64  `json:"plis"`
	TracksSubscribedPeak     int64   `json:"tracks_subscribed_peak,omitempty"`
	HeapBytesPerSubscriberKB float64 `json:"heap_kb_per_subscriber,omitempty"`
}

// Client is the generator's own cost.
type Client struct {
	CPUS         float64 `json:"cpu_s"`
	CPUCoresHold float64 `json:"cpu_cores_hold"`
	// MillicoresPerSubscriber is CPU during the hold over subscribers
	// receiving, comparable with the server's figure.
	MillicoresPerSubscriber float64 `json:"millicores_per_subscriber"`
	RSSPeakBytes            uint64  `json:"rss_peak_bytes"`
	RSSBytesPerSubscriber   float64 `json:"rss_bytes_per_subscriber"`
	// UDPRcvbufDrops is the machine's UDP datagrams dropped on full
	// receive buffers during the run (any process: generator or server).
	UDPRcvbufDrops uint64 `json:"udp_rcvbuf_drops"`
}

// Figure names of PerSubscriber, in display order.
var Figures = []string{"bitrate_kbps", "loss_pct", "packets_lost", "jitter_ms", "nacks", "plis", "freezes", "freeze_ms", "frames", "fps"}

func figure(r *Result, name string) float64 {
	switch name {
	case "bitrate_kbps":
		return r.BitrateKbps
	case "loss_pct":
		return r.LossPct
	case "packets_lost":
		return float64(r.PacketsLost)
	case "jitter_ms":
		return r.JitterMS
	case "nacks":
		return float64(r.NACKs)
	case "plis":
		return float64(r.PLIs)
	case "freezes":
		return float64(r.Freezes)
	case "freeze_ms":
		return r.FreezeMS
	case "frames":
		return float64(r.Frames)
	case "fps":
		return r.FPS
	}
	return 0
}

func dist(v []float64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	sort.Float64s(v)
	var sum float64
	for _, x := range v {
		sum += x
	}
	at := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(v)))) - 1
		return round2(v[min(max(i, 0), len(v)-1)])
	}
	return Dist{Count: len(v), Min: round2(v[0]), Mean: round2(sum / float64(len(v))),
		P50: at(50), P90: at(90), P95: at(95), P99: at(99), Max: round2(v[len(v)-1])}
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// Summarize fills every aggregate of r from r.Results.
func (r *Report) Summarize() {
	r.Subscribers = Counts{}
	r.Errors, r.ErrorDetail = map[string]int64{}, map[string]int64{}
	r.PhasesMS, r.PerSubscriber = map[string]hist.Summary{}, map[string]Dist{}
	r.Totals = Totals{}
	first := hist.New()
	phases := map[string]*hist.Histogram{}
	for _, p := range probe.Phases {
		phases[p] = hist.New()
	}
	values := map[string][]float64{}
	var targets []bench.TargetCount
	for i := range r.Results {
		res := &r.Results[i]
		r.Subscribers.Attempted++
		if res.Target != "" {
			targets = bench.MergeTargetCounts(targets, nil, res.Target, 1, int64(btoi(!res.OK())))
		}
		if !res.OK() {
			r.Subscribers.Failed++
			r.Errors[res.FailedPhase]++
			r.ErrorDetail[res.FailedPhase+":"+res.Reason]++
		} else {
			r.Subscribers.OK++
			first.Record(ms(res.FirstFrameMS))
			for p, v := range res.PhasesMS {
				if h := phases[p]; h != nil {
					h.Record(ms(v))
				}
			}
		}
		if res.Dropped {
			r.Subscribers.Dropped++
		}
		t := &r.Totals
		t.Packets += res.Packets
		t.Bytes += res.Bytes
		t.BitrateKbps += res.BitrateKbps
		t.PacketsLost += res.PacketsLost
		t.Late += res.Late
		t.NACKs += res.NACKs
		t.NACKedPackets += res.NACKedPackets
		t.PLIs += res.PLIs
		t.Frames += int64(res.Frames)
		t.Freezes += int64(res.Freezes)
		t.FreezeS += res.FreezeMS / 1000
		if res.Packets > 0 {
			for _, f := range Figures {
				values[f] = append(values[f], figure(res, f))
			}
		}
	}
	// Loss over everything: lost / (received + lost).
	if d := r.Totals.Packets + r.Totals.PacketsLost; d > 0 {
		r.Totals.LossPct = round2(100 * float64(r.Totals.PacketsLost) / float64(d))
	}
	r.Targets = bench.SeveralTargets(targets)
	r.Totals.BitrateKbps = round2(r.Totals.BitrateKbps)
	r.Totals.FreezeS = round2(r.Totals.FreezeS)
	r.FirstFrameMS = first.Summary()
	for p, h := range phases {
		if h.Count() > 0 {
			r.PhasesMS[p] = h.Summary()
		}
	}
	for _, f := range Figures {
		r.PerSubscriber[f] = dist(values[f])
	}
	if len(r.ErrorDetail) == 0 {
		r.ErrorDetail = nil
	}
	r.Worst = worst(r.Results, 5)
	r.LayerMix = layerMix(r.Results)
}

// worst ranks subscribers: failed, then dropped, then by freeze time,
// loss, and first-frame time.
func worst(all []Result, n int) []Result {
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	score := func(r *Result) [5]float64 {
		return [5]float64{b2f(!r.OK()), b2f(r.Dropped), r.FreezeMS, r.LossPct, r.FirstFrameMS}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		sa, sb := score(&all[idx[a]]), score(&all[idx[b]])
		for k := range sa {
			if sa[k] != sb[k] {
				return sa[k] > sb[k]
			}
		}
		return false
	})
	out := []Result{}
	for _, i := range idx[:min(n, len(idx))] {
		r := all[i]
		if r.OK() && !r.Dropped && r.Freezes == 0 && r.PacketsLost == 0 && len(out) > 0 && r.FirstFrameMS <= out[len(out)-1].FirstFrameMS {
			break
		}
		out = append(out, r)
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Metrics offers the report to --assert:
//   - first_frame.<p50|p90|p95|p99|max> and <phase>.<stat>, as durations;
//   - <figure>.<p50|p90|p95|p99|max|min|mean> for every per-subscriber figure
//     (bitrate_kbps, loss_pct, packets_lost, jitter_ms, nacks, plis, freezes,
//     freeze_ms, frames, fps), as plain numbers (loss_pct is a percentage
//     already: 1 and 1% mean the same);
//   - errors and errors.<phase> (counts, or a percentage of subscribers),
//     ok, dropped, and the totals: packets_lost (a count, or a percentage of
//     the packets expected), loss_pct (a percentage), nacks, plis, freezes
//     (plain numbers).
func (r *Report) Metrics() threshold.Metrics {
	m := threshold.Map{}
	m.AddSummary("first_frame", r.FirstFrameMS)
	for _, p := range probe.Phases {
		m.AddSummary(p, r.PhasesMS[p])
	}
	for _, f := range Figures {
		d := r.PerSubscriber[f]
		for stat, v := range map[string]float64{"p50": d.P50, "p90": d.P90, "p95": d.P95, "p99": d.P99, "max": d.Max, "min": d.Min, "mean": d.Mean} {
			v := threshold.Value{Kind: threshold.Plain, V: v}
			if f == "loss_pct" {
				// Over the subscribers that received media: with none
				// the figure is undefined, not 0%.
				v.Kind, v.Total = threshold.Percentage, float64(d.Count)
			}
			m[f+"."+stat] = v
		}
	}
	total := float64(r.Subscribers.Attempted)
	m["errors"] = threshold.Value{Kind: threshold.Count, V: float64(r.Subscribers.Failed), Total: total}
	for _, p := range probe.Phases {
		m["errors."+p] = threshold.Value{Kind: threshold.Count, V: float64(r.Errors[p]), Total: total}
	}
	m["ok"] = threshold.Value{Kind: threshold.Count, V: float64(r.Subscribers.OK), Total: total}
	m["dropped"] = threshold.Value{Kind: threshold.Count, V: float64(r.Subscribers.Dropped), Total: total}
	m["packets_lost"] = threshold.Value{Kind: threshold.Count, V: float64(r.Totals.PacketsLost), Total: float64(r.Totals.Packets + r.Totals.PacketsLost)}
	m["loss_pct"] = threshold.Value{Kind: threshold.Percentage, V: r.Totals.LossPct, Total: float64(r.Totals.Packets + r.Totals.PacketsLost)}
	m["nacks"] = threshold.Value{Kind: threshold.Plain, V: float64(r.Totals.NACKs)}
	m["plis"] = threshold.Value{Kind: threshold.Plain, V: float64(r.Totals.PLIs)}
	m["freezes"] = threshold.Value{Kind: threshold.Plain, V: float64(r.Totals.Freezes)}
	return m
}

// ErrNoResults is returned when merging a report written without its
// per-subscriber results.
var ErrNoResults = errors.New("report has no per-subscriber results")

// Merge combines r with the reports of runs that happened side by side (child
// processes, or several machines against one target): the per-subscriber
// results are pooled and every aggregate recomputed, so the merge is exact.
func (r *Report) Merge(more ...*Report) (*Report, error) {
	reports := append([]*Report{r}, more...)
	out := &Report{Kind: KindMedia, Results: []Result{}}
	var rssW, rss float64
	// Failed --procs children have no results to recompute from: carry
	// their entries over.
	children, childDetail := int64(0), map[string]int64{}
	series := make([]*bench.Series, len(reports))
	for i, r := range reports {
		series[i] = r.Series
		if r.Kind != KindMedia {
			return nil, fmt.Errorf("report %d is of kind %q, not %q", i+1, r.Kind, KindMedia)
		}
		if r.Subscribers.Attempted > 0 && len(r.Results) == 0 {
			return nil, fmt.Errorf("report %d (%s): %w", i+1, r.Target, ErrNoResults)
		}
		out.Target = bench.AddTarget(out.Target, r.Target)
		out.Protocol, out.Room = r.Protocol, r.Room
		out.Interrupted = out.Interrupted || r.Interrupted
		out.Runs += max(r.Runs, 1)
		out.DurationS = max(out.DurationS, r.DurationS)
		s := &out.Settings
		s.Subscribers += r.Settings.Subscribers
		s.Publishers += r.Settings.Publishers
		s.Rate += r.Settings.Rate
		s.HoldS = max(s.HoldS, r.Settings.HoldS)
		s.TimeoutS = max(s.TimeoutS, r.Settings.TimeoutS)
		s.Procs += max(r.Settings.Procs, 1)
		n := len(out.Results)
		out.Results = append(out.Results, r.Results...)
		for j := n; j < len(out.Results); j++ {
			if out.Results[j].Target == "" {
				// A run of one target: its subscribers count under it.
				out.Results[j].Target = r.Target
			}
		}
		children += r.Errors[bench.KindChildFailed]
		for k, v := range r.ErrorDetail {
			if strings.HasPrefix(k, bench.KindChildFailed+":") {
				childDetail[k] += v
			}
		}
		out.Publishers = append(out.Publishers, r.Publishers...)
		if r.Server != nil && out.Server == nil {
			sc := *r.Server
			out.Server = &sc
		}
		c := &out.Client
		c.CPUS += r.Client.CPUS
		c.CPUCoresHold += r.Client.CPUCoresHold
		c.RSSPeakBytes += r.Client.RSSPeakBytes
		c.UDPRcvbufDrops = max(c.UDPRcvbufDrops, r.Client.UDPRcvbufDrops) // machine-wide: the runs overlap
		rss += r.Client.RSSBytesPerSubscriber * float64(r.Subscribers.OK)
		rssW += float64(r.Subscribers.OK)
		out.Generator.Add(i, r.Generator)
		out.Saturated = out.Saturated || r.Saturated
		for _, w := range r.Warnings {
			out.Warnings = append(out.Warnings, fmt.Sprintf("run %d: %s", i+1, w))
		}
	}
	if !strings.Contains(out.Target, ",") {
		for i := range out.Results {
			out.Results[i].Target = "" // one target: the report's target says it
		}
	}
	if rssW > 0 {
		out.Client.RSSBytesPerSubscriber = math.Round(rss / rssW)
	}
	// Results of different processes may share ids; keep them apart.
	for i := range out.Results {
		out.Results[i].ID = i
	}
	out.Summarize()
	var err error
	if out.Series, err = bench.MergeSeries(series...); err != nil {
		return nil, fmt.Errorf("merging time series: %w", err)
	}
	if children > 0 {
		out.Errors[bench.KindChildFailed] = children
		if out.ErrorDetail == nil {
			out.ErrorDetail = map[string]int64{}
		}
		for k, v := range childDetail {
			out.ErrorDetail[k] += v
		}
	}
	out.Client.CPUCoresHold = round2(out.Client.CPUCoresHold)
	if n := out.Subscribers.OK - out.Subscribers.Dropped; n > 0 {
		out.Client.MillicoresPerSubscriber = round2(out.Client.CPUCoresHold * 1000 / float64(n))
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// classifyError reduces a probe error to a short reason for counting.
func classifyError(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "context canceled"), strings.Contains(m, "stopped before"):
		return "interrupted"
	case strings.Contains(m, "connection refused"):
		return "refused"
	case strings.Contains(m, "no such host"), strings.Contains(m, "no route"), strings.Contains(m, "network is unreachable"):
		return "unreachable"
	case strings.Contains(m, "http 4"), strings.Contains(m, "http 5"):
		if i := strings.Index(m, "http "); i >= 0 && len(m) >= i+8 {
			return "http_" + m[i+5:i+8]
		}
		return "http"
	case strings.Contains(m, "too many open files"):
		return "fd_limit"
	case strings.Contains(m, "ice failed"), strings.Contains(m, "ice did not connect"):
		return "ice"
	case strings.Contains(m, "dtls"):
		return "dtls"
	case strings.Contains(m, "no video rtp"):
		return "no_video"
	case strings.Contains(m, "no complete keyframe"):
		return "no_keyframe"
	case strings.Contains(m, "decoding"):
		return "decode"
	case strings.Contains(m, "timeout"), strings.Contains(m, "deadline exceeded"), strings.Contains(m, "within"):
		return "timeout"
	case strings.Contains(m, "protocol") || strings.Contains(m, "not an sdp"):
		return "protocol"
	}
	return "other"
}

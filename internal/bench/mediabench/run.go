package mediabench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/logging"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/netshape"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
)

// Phases of a run, as progress and child processes report them.
const (
	PhasePublish = "publish" // starting the built-in publishers
	PhaseRamp    = "ramp"    // starting subscribers until each has a first frame or failed
	PhaseHold    = "hold"
	PhaseDrain   = "drain" // window closed; late retransmissions may still arrive
	PhaseDone    = "done"
)

// Live is the state of a run for progress display; child processes send it
// to their parent once a second.
type Live struct {
	Phase     string `json:"phase"`
	Target    int64  `json:"target"`
	Attempted int64  `json:"attempted"`
	OK        int64  `json:"ok"`
	Failed    int64  `json:"failed"`
	// Receiving is how many subscribers have a first frame and still get media.
	Receiving int64 `json:"receiving"`
	// BitrateKbps is what all subscribers received in the last interval.
	BitrateKbps float64 `json:"bitrate_kbps"`
	Freezes     int64   `json:"freezes"`
	// Bytes and Lost are RTP bytes received and packets missing so far
	// (--metrics-listen).
	Bytes int64 `json:"bytes"`
	Lost  int64 `json:"lost"`
}

// quietPion silences pion's own logs: hundreds of subscribers hanging up
// at once log expected errors (their data channel's association closing
// under its reader, packets for a peer already gone) on stderr.
var quietPion = func() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelDisabled
	return f
}()

// Runner is a run of the media generator, in this process (Run) or spread
// over child processes (Procs).
type Runner = bench.RunnerOf[Live, Report]

var (
	_ Runner = (*Run)(nil)
	_ Runner = (*Procs)(nil)
)

// Run is one execution of the media generator in this process.
type Run struct {
	opts   Options
	log    *slog.Logger
	bindIP net.IP
	tls    *tls.Config // from opts.TLS, loaded once for every peer

	attempted, ok, failed, receiving atomic.Int64
	scheduleLag                      atomic.Int64
	phase                            atomic.Value // string

	mu   sync.Mutex
	subs []*subscriber

	liveMu    sync.Mutex
	liveBytes int64
	liveTime  time.Time

	onPhase func(string)

	// series records the run per second (set by Execute).
	series *bench.SeriesRecorder
}

// Names in a media report's Series: the first-frame latency of the
// subscribers that got one in each step, and the counts each step adds.
const (
	SeriesFirstFrame = "first_frame"
	CountBytes       = "bytes"   // RTP bytes received
	CountPackets     = "packets" // distinct RTP packets received
	CountLost        = "lost"    // packets missing (after NACK recovery): a later step can take some back
	CountFreezes     = "freezes"
)

// sample is the run's figures so far for its series: subscribers
// receiving, started and failed, and the counters summed over them.
func (r *Run) sample() bench.Sample {
	s := bench.Sample{Open: r.receiving.Load(), Attempts: r.attempted.Load(), Failures: r.failed.Load(),
		Counts: map[string]int64{}}
	for _, sub := range r.started() {
		snap := sub.counters.Snapshot()
		s.Counts[CountBytes] += snap.Bytes
		s.Counts[CountPackets] += snap.Unique
		s.Counts[CountLost] += snap.Lost()
		s.Counts[CountFreezes] += int64(sub.frames.stats().Freezes)
	}
	return s
}

// NewRun validates opts and prepares a run.
func NewRun(opts Options) (*Run, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r := &Run{opts: opts, log: opts.Logger}
	r.opts.fixed, _ = opts.Auth.Fixed(opts.WSSessions()) // Validate saw no error
	var err error
	if r.tls, err = opts.TLS.Config(); err != nil {
		return nil, err
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.BindIP != "" {
		if r.bindIP = net.ParseIP(opts.BindIP); r.bindIP == nil {
			return nil, fmt.Errorf("invalid bind address %q", opts.BindIP)
		}
	} else {
		ip, err := peer.LocalIPToward(opts.Target())
		if err != nil {
			return nil, err
		}
		r.bindIP = ip
	}
	r.phase.Store(PhasePublish)
	return r, nil
}

// OnPhase sets a function called at each phase change.
func (r *Run) OnPhase(fn func(string)) { r.onPhase = fn }

func (r *Run) setPhase(p string) {
	r.phase.Store(p)
	if r.onPhase != nil {
		r.onPhase(p)
	}
}

// Live reports progress; it resets the bitrate interval, so one caller
// should poll it.
func (r *Run) Live() Live {
	l := Live{Phase: r.phase.Load().(string), Target: int64(r.opts.Subscribers),
		Attempted: r.attempted.Load(), OK: r.ok.Load(), Failed: r.failed.Load(), Receiving: r.receiving.Load()}
	r.mu.Lock()
	subs := r.subs
	r.mu.Unlock()
	var bytes int64
	for _, s := range subs {
		snap := s.counters.Snapshot()
		bytes += snap.Bytes
		l.Lost += snap.Lost()
		l.Freezes += int64(s.frames.stats().Freezes)
	}
	r.liveMu.Lock()
	now := time.Now()
	if !r.liveTime.IsZero() {
		if dt := now.Sub(r.liveTime).Seconds(); dt > 0 {
			l.BitrateKbps = math.Round(float64(bytes-r.liveBytes) * 8 / 1000 / dt)
		}
	}
	r.liveBytes, r.liveTime = bytes, now
	r.liveMu.Unlock()
	l.Bytes = bytes
	return l
}

// subscriber is one subscriber's state.
type subscriber struct {
	id       int
	counters *Counters
	frames   frames
	settle   sync.Once
	done     chan struct{}
	res      Result
}

// Execute starts the publishers, ramps the subscribers, holds, and reports.
// Cancelling ctx ends the run early; the report covers what happened.
func (r *Run) Execute(ctx context.Context) (*Report, error) {
	o := &r.opts
	mon := bench.StartMonitor()
	cpu0 := bench.ProcessCPU()
	start := time.Now()
	rss0 := bench.ProcessRSS()
	drops0, dropsOK := udpRcvbufErrors()
	r.series = bench.StartSeries([]string{SeriesFirstFrame}, r.sample)
	// Stopped here on an early return; Finish below otherwise.
	finished := false
	defer func() {
		if !finished {
			_, _ = r.series.Finish()
		}
	}()

	pubs, err := startPublishers(ctx, o, r.log)
	defer closePublishers(pubs)
	if err != nil {
		mon.Finish(0, 0)
		return nil, err
	}

	srv := bench.NewSampler(o.StatsURL, o.ServerPID, r.tls)
	srv.Start(time.Second)
	defer srv.Stop()

	r.setPhase(PhaseRamp)
	sctx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	var wg sync.WaitGroup
	settled := make(chan struct{}, o.Subscribers)
	r.ramp(sctx, &wg, settled)
	// The hold starts once every subscriber has its first frame or failed.
	for n := len(r.started()); n > 0 && ctx.Err() == nil; n-- {
		select {
		case <-settled:
		case <-ctx.Done():
		}
	}

	r.setPhase(PhaseHold)
	holdStart := time.Now()
	cpuH0 := bench.ProcessCPU()
	holdMark := srv.Mark(context.Background())
	rssHold := bench.ProcessRSS()
	if ctx.Err() == nil && o.Duration > 0 {
		t := time.NewTimer(o.Duration)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	holdEnd := time.Now()
	cpuH1 := bench.ProcessCPU()
	srvHold := []bench.Mark{holdMark, srv.Mark(context.Background())}
	holdS := holdEnd.Sub(holdStart).Seconds()

	// Close every subscriber's counting window at the same moment, give
	// retransmissions of the last losses time to arrive, then hang up.
	r.setPhase(PhaseDrain)
	subs := r.started()
	for _, s := range subs {
		s.counters.Freeze(holdEnd)
		s.frames.finish(holdEnd)
	}
	if ctx.Err() == nil {
		time.Sleep(o.Grace)
	}
	stopSubs()
	wg.Wait()
	r.setPhase(PhaseDone)
	series, seriesErr := r.series.Finish()
	finished = true
	if seriesErr != nil {
		series = nil // cannot happen with histograms made here; the report goes without
	}

	rep := &Report{
		Kind: KindMedia, Target: strings.Join(o.Targets(), ","), Protocol: o.Protocol(), Room: o.Room,
		DurationS: round2(time.Since(start).Seconds()), Runs: 1, Interrupted: ctx.Err() != nil,
		Settings: Settings{Subscribers: o.Subscribers, Publishers: o.Publishers, Rate: o.Rate,
			HoldS: o.Duration.Seconds(), TimeoutS: o.Timeout.Seconds(), Procs: o.Procs},
		Results: make([]Result, 0, len(subs)), Series: series,
	}
	for _, s := range subs {
		rep.Results = append(rep.Results, s.res)
	}
	for _, p := range pubs {
		rep.Publishers = append(rep.Publishers, p.Stats())
	}
	rep.Summarize()
	receiving := rep.Subscribers.OK - rep.Subscribers.Dropped
	rep.Client = Client{CPUS: round2((bench.ProcessCPU() - cpu0).Seconds()), RSSPeakBytes: bench.ProcessRSS()}
	if holdS > 0 {
		rep.Client.CPUCoresHold = round2((cpuH1 - cpuH0).Seconds() / holdS)
	}
	if receiving > 0 {
		rep.Client.MillicoresPerSubscriber = round2(rep.Client.CPUCoresHold * 1000 / float64(receiving))
		rep.Client.RSSBytesPerSubscriber = math.Round(float64(int64(rssHold)-int64(rss0)) / float64(receiving))
	}
	rep.Generator = mon.Finish(time.Duration(r.scheduleLag.Load()), 0)
	rep.Client.RSSPeakBytes = max(rep.Client.RSSPeakBytes, rep.Generator.RSSPeakBytes)
	rep.Server = serverReport(srv, srvHold, o.serverSubscribers(receiving))
	if drops1, ok := udpRcvbufErrors(); ok && dropsOK {
		rep.Client.UDPRcvbufDrops = drops1 - min(drops0, drops1)
	}
	judge(rep)
	return rep, nil
}

// judge decides whether the generator, not the server, limited the run.
func judge(rep *Report) {
	rep.Saturated = rep.Generator.Bottleneck
	rep.Warnings = append(rep.Warnings[:0], rep.Generator.Reasons...)
	if d := rep.Client.UDPRcvbufDrops; d > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the kernel dropped %d UDP datagrams on full receive buffers during the run (machine-wide, /proc/net/snmp): a receiver on this machine, the generator or the server, did not keep up, so loss here may be the machine's rather than the network's", d))
	}
	if s := rep.Server; s != nil && s.MillicoresPerSubscriber > 0 && rep.Client.MillicoresPerSubscriber > s.MillicoresPerSubscriber {
		rep.Saturated = true
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the generator cost %.2f millicores per subscriber, more than the server's %.2f: on a shared machine it competes with the server for CPU; run it on another machine or with fewer subscribers per process",
			rep.Client.MillicoresPerSubscriber, s.MillicoresPerSubscriber))
	}
}

func (r *Run) started() []*subscriber {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.subs
}

func closePublishers(pubs []*publish.Publisher) {
	for _, p := range pubs {
		p.Close()
	}
}

// startPublishers starts o's built-in publishers (in the parent process
// when the subscribers are spread over --procs).
func startPublishers(ctx context.Context, o *Options, log *slog.Logger) ([]*publish.Publisher, error) {
	var pubs []*publish.Publisher
	for i := range o.Publishers {
		room, identity, token, err := o.session(i, true)
		var tlsCfg *tls.Config
		if err == nil {
			tlsCfg, err = o.TLS.Config()
		}
		if err == nil {
			var p *publish.Publisher
			p, err = publish.Start(ctx, publish.Options{URL: o.PublishURL(), Room: room, Token: token, Logger: log, Identity: identity,
				Simulcast: o.Simulcast, Peer: peer.Options{TLS: tlsCfg}})
			if err == nil {
				pubs = append(pubs, p)
				continue
			}
		}
		return pubs, fmt.Errorf("starting built-in publisher %d on %s: %w", i+1, o.PublishURL(), err)
	}
	return pubs, nil
}

// ramp starts subscriber i at start + i/rate whether or not earlier ones
// are up (an open model) and returns once all are started.
func (r *Run) ramp(ctx context.Context, wg *sync.WaitGroup, settled chan<- struct{}) {
	o := &r.opts
	start := time.Now()
	per := float64(time.Second) / o.Rate
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	for i := 0; i < o.Subscribers; i++ {
		due := start.Add(time.Duration(float64(i) * per))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		if lag := time.Since(due); lag > time.Duration(r.scheduleLag.Load()) {
			r.scheduleLag.Store(int64(lag))
		}
		s := &subscriber{id: o.Offset + i, counters: newCounters(), done: make(chan struct{})}
		r.mu.Lock()
		r.subs = append(r.subs, s)
		r.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.subscribe(ctx, s, settled)
		}()
	}
}

// subscribe runs one subscriber until ctx ends.
func (r *Run) subscribe(ctx context.Context, s *subscriber, settled chan<- struct{}) {
	o := &r.opts
	r.attempted.Add(1)
	settle := func() { s.settle.Do(func() { settled <- struct{}{} }) }
	defer settle()
	// failEarly records a subscriber that failed before its first request.
	failEarly := func(msg string) {
		r.failed.Add(1)
		s.res = Result{ID: s.id, Target: o.resultTarget(s.id), PhasesMS: map[string]float64{}, FailedPhase: probe.PhaseSignal, Reason: classifyError(msg), Error: msg}
	}
	room, identity, token, err := o.session(s.id, false)
	if err != nil {
		failEarly(err.Error())
		return
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: r.bindIP})
	if err != nil {
		failEarly(fmt.Sprintf("opening a UDP socket on %s: %v", r.bindIP, err))
		return
	}
	// A larger receive buffer rides out a keyframe burst while this process
	// waits for a core (the kernel caps it at net.core.rmem_max).
	_ = conn.SetReadBuffer(1 << 20)
	var pconn net.PacketConn = newBatchConn(conn)
	if o.WrapConn != nil {
		pconn = o.WrapConn(conn)
	}
	if o.shaped(s.id) {
		pconn = netshape.Wrap(pconn, netshape.Options{RateBps: o.ShapeRateBps})
	}
	mux := newSocketMux(pconn)
	defer mux.Close()

	var receiving atomic.Bool
	began := time.Now()
	po := probe.Options{
		URL: o.subscriberTarget(s.id), Room: room, Token: token, Logger: r.log, Identity: identity,
		Timeout: o.Timeout, Layer: o.Layer,
		// Observation lasts until ctx ends (the end of the run).
		Observe:         365 * 24 * time.Hour,
		FreezeThreshold: MinFreeze,
		NoImage:         true,
		// After the first keyframe (decoded, so every phase is timed) only
		// frames' timestamps are needed: count them from RTP headers
		// instead of assembling and hashing every frame.
		CountOnly: true,
		Peer: peer.Options{TLS: r.tls, UDPMux: mux, Interceptors: []interceptor.Factory{s.counters.Factory()},
			LoggerFactory: quietPion, DetachDataChannels: true, NoStatsInterceptor: true},
		OnFrame: func(t time.Time, f media.Frame) {
			if s.frames.frame(t, f) {
				r.series.Record(SeriesFirstFrame, t.Sub(began))
				receiving.Store(true)
				r.receiving.Add(1)
				settle()
			}
		},
	}
	res := probe.Attempt(ctx, po)
	end := time.Now()
	s.counters.Freeze(end) // no-ops when the run already closed the window
	s.frames.finish(end)
	if receiving.Load() {
		r.receiving.Add(-1)
	}
	s.res = r.result(s, res, ctx.Err() == nil)
	if s.res.OK() {
		r.ok.Add(1)
	} else {
		r.failed.Add(1)
	}
}

// result turns a probe result and the counters into a subscriber's record.
// early says the attempt ended before the run did.
func (r *Run) result(s *subscriber, pr probe.Result, early bool) Result {
	res := Result{ID: s.id, Target: r.opts.resultTarget(s.id), PhasesMS: pr.PhasesMS, Codec: pr.Codec, Width: pr.Width, Height: pr.Height, Black: pr.Black,
		Shaped: r.opts.shaped(s.id), Layers: pr.Layers, LayerSwitches: pr.LayerSwitches, TimeAtLayerMS: pr.TimeAtLayerMS}
	if res.PhasesMS == nil {
		res.PhasesMS = map[string]float64{}
	}
	if !pr.OK() {
		res.FailedPhase = pr.FailedPhase
		res.Error = pr.Error
		res.Reason = classifyError(pr.Error)
	} else if v, ok := pr.FirstFrame(); ok {
		res.FirstFrameMS = v
		res.Dropped = early
	}
	snap := s.counters.Snapshot()
	res.Packets, res.Bytes = snap.Unique, snap.Bytes
	res.PacketsLost = snap.Lost()
	res.Late = snap.Late
	if d := snap.Unique + res.PacketsLost; d > 0 {
		res.LossPct = round2(100 * float64(res.PacketsLost) / float64(d))
	}
	res.JitterMS, res.AudioJitterMS = round2(snap.JitterMS), round2(snap.AudioJitterMS)
	res.NACKs, res.NACKedPackets, res.PLIs = snap.NACKs, snap.NACKedPackets, snap.PLIs+snap.FIRs
	if !snap.First.IsZero() {
		if d := snap.End.Sub(snap.First).Seconds(); d > 0 {
			res.ReceiveS = round2(d)
			res.BitrateKbps = round2(float64(snap.Bytes) * 8 / 1000 / d)
		}
	}
	fs := s.frames.stats()
	res.Frames, res.FPS, res.Freezes = fs.Frames, round2(fs.FPS), fs.Freezes
	res.FreezeMS = round2(float64(fs.Frozen.Microseconds()) / 1000)
	res.MaxGapMS = round2(float64(fs.MaxGap.Microseconds()) / 1000)
	return res
}

// udpRcvbufErrors reads the machine's count of UDP datagrams dropped on a
// full receive buffer (Udp RcvbufErrors in /proc/net/snmp).
func udpRcvbufErrors() (uint64, bool) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, false
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Udp: ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				return v, err == nil
			}
		}
	}
	return 0, false
}

package signalbench

import (
	"context"
	"crypto/tls"
	"maps"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/metrics/hist"
)

// Phases of a run, as progress and child processes report them.
const (
	PhaseRamp  = "ramp"
	PhaseHold  = "hold"
	PhaseLeave = "leave"
	PhaseDone  = "done"
)

// maxErrorDetails bounds the distinct error details kept, so a server
// inventing error codes cannot grow the report without limit.
const maxErrorDetails = 64

// Live is the state of a run for progress display; child processes send it
// to their parent once a second.
type Live struct {
	Phase       string  `json:"phase"`
	Target      int64   `json:"target"`
	Attempted   int64   `json:"attempted"`
	Established int64   `json:"established"`
	Failed      int64   `json:"failed"`
	Open        int64   `json:"open"`
	RatePerS    float64 `json:"rate_per_s"`
	// P99MS is the p99 of the last interval: join during ramp, rtt after.
	P99MS float64 `json:"p99_ms"`
	P99Of string  `json:"p99_of"`
	// Errors count the errors so far by kind (--metrics-listen).
	Errors map[string]int64 `json:"errors,omitempty"`
}

// Run is one execution of the signaling generator in this process.
type Run struct {
	opts  Options
	epoch time.Time
	hist  map[string]*hist.Histogram
	// liveHist are hist's histograms as NewRun made them, but chat's, for
	// Live and LiveHistograms to read while Execute puts a merged chat
	// histogram into hist (a map written while read is a race).
	liveHist map[string]*hist.Histogram

	attempted, established, failed atomic.Int64
	open, peakOpen, dropped        atomic.Int64
	leaveFailed                    atomic.Int64
	msgs                           atomic.Int64
	scheduleLag, pingLag           atomic.Int64 // max, ns

	phase atomic.Value // string

	errMu  sync.Mutex
	errs   map[string]int64
	detail map[string]int64

	shards []*shard
	chat   chatState
	// perTarget counts attempts and failures by target (Options.URLs).
	perTarget []targetTally
	// series records the run per second (set by Execute).
	series *bench.SeriesRecorder

	onPhase func(phase string)
	tls     *tls.Config // from opts.TLS, loaded once for every session

	liveMu   sync.Mutex
	liveEst  int64
	liveTime time.Time
}

// targetTally counts one target's sessions as they are attempted.
type targetTally struct{ attempted, failed atomic.Int64 }

// NewRun validates opts and prepares a run.
func NewRun(opts Options) (*Run, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Protocol == ProtocolLivectl {
		opts.fixed, _ = opts.Auth.Fixed(opts.RunConns) // Validate saw no error
	}
	r := &Run{opts: opts, errs: map[string]int64{}, detail: map[string]int64{}, hist: map[string]*hist.Histogram{},
		perTarget: make([]targetTally, len(opts.targets()))}
	var err error
	if r.tls, err = opts.TLS.Config(); err != nil {
		return nil, err
	}
	for _, name := range LatencyNames {
		r.hist[name] = hist.New()
	}
	r.hist[LatJoin] = hist.NewWithInterval()
	r.hist[LatRTT] = hist.NewWithInterval()
	if opts.Protocol == ProtocolRaw {
		r.hist[LatConnect] = hist.NewWithInterval()
	}
	if opts.ChatRate > 0 {
		// The stripes keep an interval too: the series pulls each
		// second's chat latencies from them (chatSecond).
		for i := range r.chat.stripes {
			r.chat.stripes[i] = hist.NewWithInterval()
		}
		lo, hi := opts.roomsSpan()
		r.chat.roomLo, r.chat.lastSeq = lo, make([]atomic.Int64, hi-lo+1)
	}
	r.liveHist = make(map[string]*hist.Histogram, len(r.hist))
	for name, h := range r.hist {
		if name != LatChat {
			r.liveHist[name] = h
		}
	}
	r.phase.Store(PhaseRamp)
	return r, nil
}

// LiveHistograms are the run's latency histograms so far, chat's merged
// from its stripes (bench.LiveHistograms).
func (r *Run) LiveHistograms() map[string]*hist.Histogram {
	out := make(map[string]*hist.Histogram, len(r.liveHist)+1)
	maps.Copy(out, r.liveHist)
	if r.opts.ChatRate > 0 {
		out[LatChat] = r.chatHist()
	}
	return out
}

// settings echo o in a report of a run over procs processes.
func (o *Options) settings(procs int) Settings {
	s := Settings{Conns: o.Conns, Rate: o.Rate, HoldS: o.Duration.Seconds(),
		PingIntervalMS: float64(o.PingInterval) / float64(time.Millisecond),
		Rooms:          o.RoomCount(), RoomSize: o.LargestRoom(), SourceIPs: len(o.SourceIPs), Procs: procs}
	if o.ChatRate > 0 {
		s.ChatRate, s.ChatSenders = o.ChatRate, o.chatSenders()
	}
	return s
}

// roomsSpan is the lowest and highest room number of this process's
// sessions.
func (o *Options) roomsSpan() (lo, hi int) {
	if o.Rooms > 0 {
		return 0, min(o.Rooms, o.RunConns) - 1
	}
	return o.Offset / o.RoomSize, (o.Offset + o.Conns - 1) / o.RoomSize
}

// acceptChat counts a chat_ok for seq received by session i.
func (r *Run) acceptChat(i int, seq uint64) {
	r.chat.accepted.Add(1)
	if n := r.opts.roomIndex(i) - r.chat.roomLo; n >= 0 && n < len(r.chat.lastSeq) {
		storeMax(&r.chat.lastSeq[n], int64(min(seq, math.MaxInt64)))
	}
}

// OnPhase sets a function called at each phase change (child processes
// tell their parent at once, so it can sample the server at the right time).
func (r *Run) OnPhase(fn func(phase string)) { r.onPhase = fn }

func (r *Run) setPhase(p string) {
	r.phase.Store(p)
	if r.onPhase != nil {
		r.onPhase(p)
	}
}

// now is nanoseconds since the run's epoch on the monotonic clock, never 0.
func (r *Run) now() int64 { return int64(time.Since(r.epoch)) + 1 }

// Live reports progress; it resets the "current" p99 interval, so one
// caller should poll it.
func (r *Run) Live() Live {
	phase := r.phase.Load().(string)
	l := Live{
		Phase: phase, Target: int64(r.opts.Conns),
		Attempted: r.attempted.Load(), Established: r.established.Load(),
		Failed: r.failed.Load(), Open: r.open.Load(),
	}
	r.liveMu.Lock()
	now := time.Now()
	if !r.liveTime.IsZero() {
		if dt := now.Sub(r.liveTime).Seconds(); dt > 0 {
			l.RatePerS = math.Round(float64(l.Established-r.liveEst) / dt)
		}
	}
	r.liveEst, r.liveTime = l.Established, now
	r.liveMu.Unlock()
	r.errMu.Lock()
	l.Errors = maps.Clone(r.errs)
	r.errMu.Unlock()
	switch {
	case phase == PhaseRamp && r.opts.Protocol == ProtocolRaw:
		l.P99MS, l.P99Of = r.liveHist[LatConnect].Interval().P99, LatConnect
	case phase == PhaseRamp:
		l.P99MS, l.P99Of = r.liveHist[LatJoin].Interval().P99, LatJoin
	default:
		l.P99MS, l.P99Of = r.liveHist[LatRTT].Interval().P99, LatRTT
	}
	return l
}

func (r *Run) countError(err error) {
	kind, detail := classify(err)
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.errs[kind]++
	if detail != "" {
		key := kind + ":" + detail
		if _, ok := r.detail[key]; ok || len(r.detail) < maxErrorDetails {
			r.detail[key]++
		}
	}
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// chatSecond is the chat latencies recorded since its previous call, from
// every stripe: the series' chat figures per second.
func (r *Run) chatSecond() *hist.Histogram {
	h := hist.New()
	for _, s := range r.chat.stripes {
		h.Merge(s.TakeInterval())
	}
	return h
}

// Execute runs ramp, hold and leave and returns the report. Cancelling ctx
// ends the run early: the ramp stops, sessions leave, and the report covers
// what happened (Interrupted set).
func (r *Run) Execute(ctx context.Context) (*Report, error) {
	o := &r.opts
	mon := bench.StartMonitor()
	cpu0 := bench.ProcessCPU()
	r.epoch = time.Now()
	r.liveMu.Lock()
	r.liveTime = r.epoch
	r.liveMu.Unlock()
	base := memBaseline()
	r.series = bench.StartSeries(SeriesLatencies, func() bench.Sample {
		return bench.Sample{Open: r.open.Load(), Attempts: r.attempted.Load(), Failures: r.failed.Load()}
	})
	if o.ChatRate > 0 {
		r.series.Pull(LatChat, r.chatSecond)
	}
	srv := bench.NewSampler(o.StatsURL, o.ServerPID, r.tls)
	before := srv.Mark(ctx)

	// Ping shards: a few goroutines walk all sessions instead of one
	// goroutine per session, which keeps the generator's memory per
	// session to the connection itself. Sessions join a shard as they are
	// established; pinging starts with the hold phase, so the ramp measures
	// connecting and joining alone.
	nshards := min(max(runtime.GOMAXPROCS(0)*4, 4), 64)
	r.shards = make([]*shard, nshards)
	for i := range r.shards {
		r.shards[i] = &shard{r: r}
	}

	rampStart, rampCPU0 := time.Now(), bench.ProcessCPU()
	r.ramp(ctx)
	rampS := time.Since(rampStart).Seconds()
	rampCPU := bench.ProcessCPU() - rampCPU0

	// Cost per session, measured with every session open and nothing else
	// in flight.
	open := r.open.Load()
	mem := memNow()
	peak := srv.Mark(ctx)

	pctx, stopPings := context.WithCancel(context.Background())
	var pwg sync.WaitGroup
	for _, sh := range r.shards {
		pwg.Add(1)
		go func() { defer pwg.Done(); sh.loop(pctx) }()
	}
	r.setPhase(PhaseHold)
	chatCPU0 := bench.ProcessCPU()
	hctx, endHold := context.WithCancel(ctx)
	chatDone := make(chan struct{})
	go func() {
		defer close(chatDone)
		if o.ChatRate > 0 {
			r.chatPhase(hctx, r.sessions(func(s *session) bool { return o.member(s.idx) < o.chatSenders() }))
		}
	}()
	if ctx.Err() == nil && o.Duration > 0 && r.open.Load() > 0 {
		t := time.NewTimer(o.Duration)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	endHold()
	<-chatDone
	if o.ChatRate > 0 {
		r.drainChat()
	}

	r.setPhase(PhaseLeave)
	stopPings()
	pwg.Wait()
	var chat *Chat
	// The report's histograms: r.hist, plus chat's when there is chat. A
	// copy, not r.hist itself: a late pong still reads r.hist from a read
	// loop, so the map is not written once sessions run.
	hists := r.hist
	if o.ChatRate > 0 {
		var serverCPU time.Duration
		if end := srv.Mark(ctx); end.CPUOK && peak.CPUOK {
			serverCPU = end.CPU - peak.CPU
		}
		chat = r.chatReport(r.sessions(func(*session) bool { return true }),
			func(s *session) bool { return !s.dead && s.c.err() == nil }, bench.ProcessCPU()-chatCPU0, serverCPU)
		hists = maps.Clone(r.hist)
		hists[LatChat] = r.chatHist() // recorded in stripes
	}
	r.leaveAll()
	r.setPhase(PhaseDone)
	dur := time.Since(r.epoch).Seconds()
	series, seriesErr := r.series.Finish()
	if seriesErr != nil {
		series = nil // cannot happen with histograms made here; the report goes without
	}
	gen := mon.Finish(time.Duration(r.scheduleLag.Load()), time.Duration(r.pingLag.Load()))

	rep := &Report{
		Kind: KindSignal, Target: strings.Join(o.targets(), ","), Targets: r.targetCounts(), Protocol: o.Protocol,
		DurationS: round2(dur), Runs: 1,
		Settings: o.settings(1),
		Connections: Connections{
			Attempted: r.attempted.Load(), Established: r.established.Load(),
			Failed: r.failed.Load(), PeakOpen: r.peakOpen.Load(), Dropped: r.dropped.Load(),
			LeaveFailed: r.leaveFailed.Load(),
		},
		Errors:      map[string]int64{},
		Latency:     map[string]hist.Summary{},
		Histograms:  hists,
		Interrupted: ctx.Err() != nil,
		Rate:        Rate{Messages: r.msgs.Load(), RampS: round2(rampS)},
		Client: Client{
			CPUS:         round2((bench.ProcessCPU() - cpu0).Seconds()),
			RSSPeakBytes: gen.RSSPeakBytes,
		},
		Server:    serverCost(before, peak),
		Generator: gen,
		Chat:      chat,
		Series:    series,
	}
	if chat != nil {
		rep.Rate.ChatDeliveriesPerS = chat.deliveriesPerS()
	}
	if est := rep.Connections.Established; est > 0 {
		rep.Client.RampCPUUSPerSession = math.Round(float64(rampCPU/time.Microsecond) / float64(est))
	}
	if open > 0 {
		rep.Client.BytesPerSession = math.Round(float64(int64(mem.rss)-int64(base.rss)) / float64(open))
		rep.Client.GoBytesPerSession = math.Round(float64(int64(mem.goBytes)-int64(base.goBytes)) / float64(open))
	}
	r.errMu.Lock()
	for k, v := range r.errs {
		rep.Errors[k] = v
	}
	if len(r.detail) > 0 {
		rep.ErrorDetail = map[string]int64{}
		for k, v := range r.detail {
			rep.ErrorDetail[k] = v
		}
	}
	r.errMu.Unlock()
	for name, h := range hists {
		rep.Latency[name] = h.Summary()
	}
	if rampS > 0 {
		rep.Rate.ConnectsPerS = round2(float64(rep.Connections.Established) / rampS)
	}
	if dur > 0 {
		rep.Rate.MessagesPerS = round2(float64(rep.Rate.Messages) / dur)
	}
	return rep, nil
}

// ramp starts attempt i at epoch + i/rate, whether or not earlier attempts
// have finished (an open model), and waits for every attempt to end.
//
// Attempts run on a pool of workers that grows whenever no worker is idle
// at an attempt's due time, so no attempt ever waits for a worker; reusing
// workers spares each attempt a fresh goroutine whose stack must grow
// through the dial (a measurable share of the generator's CPU).
func (r *Run) ramp(ctx context.Context) {
	type job struct {
		i   int
		due time.Time
	}
	var wg sync.WaitGroup
	work := make(chan job) // unbuffered: a send succeeds only to an idle worker
	launch := func(j job) {
		select {
		case work <- j:
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.attempt(ctx, j.i, j.due)
				for j := range work {
					r.attempt(ctx, j.i, j.due)
				}
			}()
		}
	}
	start := time.Now()
	perAttempt := float64(time.Second) / r.opts.Rate
	due := func(i int) time.Time { return start.Add(time.Duration(float64(i) * perAttempt)) }
	timer := time.NewTimer(0)
	<-timer.C
	for i := 0; i < r.opts.Conns; {
		if ctx.Err() != nil {
			break
		}
		if wait := time.Until(due(i)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
			case <-timer.C:
			}
			continue
		}
		// Launch every attempt that is due: after a stall the ramp catches
		// up instead of silently stretching, and the lag is recorded.
		now := time.Now()
		for ; i < r.opts.Conns && !due(i).After(now); i++ {
			storeMax(&r.scheduleLag, int64(now.Sub(due(i))))
			launch(job{i, due(i)})
		}
	}
	close(work)
	wg.Wait()
}

// targetCounts are the sessions and failures by target, when there are
// several targets.
func (r *Run) targetCounts() []bench.TargetCount {
	counts := bench.NewTargetCounts(r.opts.targets())
	for i := range counts {
		counts[i].Sessions, counts[i].Failed = r.perTarget[i].attempted.Load(), r.perTarget[i].failed.Load()
	}
	return bench.SeveralTargets(counts)
}

func (r *Run) attempt(ctx context.Context, i int, due time.Time) {
	o := &r.opts
	r.attempted.Add(1)
	s := &session{r: r, idx: o.Offset + i}
	tally := &r.perTarget[bench.TargetIndex(o.targets(), s.idx)]
	tally.attempted.Add(1)
	if ctx.Err() != nil {
		r.failed.Add(1)
		tally.failed.Add(1)
		r.countError(ctx.Err())
		return
	}
	// The dial and join are bounded by the connect and request timeouts,
	// not by ctx: an attempt in flight when the run is interrupted finishes
	// (or times out) on its own. Deriving thousands of concurrent contexts
	// from the run's one context would make every attempt register with it,
	// which showed as a sizeable share of the generator's CPU.
	// An attempt that fails after the run was stopped was cut short by the
	// stop (its timeout ran on while nobody waited for it), whatever its
	// socket said: it counts as interrupted, not as the server's timeout.
	fail := func(err error) {
		r.failed.Add(1)
		tally.failed.Add(1)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		r.countError(err)
	}
	start := time.Now()
	var (
		c   conn
		err error
	)
	if o.Protocol == ProtocolRaw {
		c, err = r.dialRaw(context.Background(), s)
	} else {
		c, err = r.dialLivectl(context.Background(), s)
	}
	if err != nil {
		fail(err)
		return
	}
	s.c = c
	connected := time.Now()
	r.hist[LatConnect].Record(connected.Sub(due))
	r.series.Record(LatConnect, connected.Sub(due))
	r.hist[LatConnectRaw].Record(connected.Sub(start))
	if lc, ok := c.(*livectlConn); ok {
		tok, err := o.token(s.idx)
		if err == nil {
			err = lc.join(context.Background(), o.room(s.idx), o.identity(s.idx), tok)
		}
		if err != nil {
			fail(err)
			lc.c.Close()
			return
		}
		joined := time.Now()
		r.hist[LatJoin].Record(joined.Sub(connected))
		r.series.Record(LatJoin, joined.Sub(connected))
		r.hist[LatSetup].Record(joined.Sub(due))
	}
	r.established.Add(1)
	storeMax(&r.peakOpen, r.open.Add(1))
	r.shards[s.idx%len(r.shards)].add(s)
}

// sessions lists the established sessions that keep says to, wherever
// they are in the shards. Shard goroutines own a session's dead flag: with
// them running, a list filtered on it is only a snapshot.
func (r *Run) sessions(keep func(*session) bool) []*session {
	var out []*session
	for _, sh := range r.shards {
		sh.mu.Lock()
		for _, l := range [][]*session{sh.sessions, sh.pending} {
			for _, s := range l {
				if keep(s) {
					out = append(out, s)
				}
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// leaveAll ends every live session with a bounded number of workers.
func (r *Run) leaveAll() {
	var all []*session
	for _, sh := range r.shards {
		sh.mu.Lock()
		all = append(all, sh.sessions...)
		all = append(all, sh.pending...)
		sh.sessions, sh.pending = nil, nil
		sh.mu.Unlock()
	}
	work := make(chan *session)
	var wg sync.WaitGroup
	for range min(256, max(len(all), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if s.dead {
					continue
				}
				// A session already ended was lost before the leave phase
				// (dropped); one that was open and then failed to leave
				// (a slow server timing the leave out) was not, so it is
				// counted apart, with its error by kind.
				lost := s.c.err()
				err := s.c.leave(context.Background())
				switch {
				case lost != nil:
					r.countError(lost)
					r.dropped.Add(1)
				case err != nil:
					r.countError(err)
					r.leaveFailed.Add(1)
				}
				r.open.Add(-1)
			}
		}()
	}
	for _, s := range all {
		work <- s
	}
	close(work)
	wg.Wait()
}

// shard pings its share of the sessions on schedule.
type shard struct {
	r        *Run
	mu       sync.Mutex
	sessions []*session
	pending  []*session // added since the last tick
}

// livenessInterval is how often a session that sends no pings is checked
// for having been closed by the server.
const livenessInterval = time.Second

// pings says whether sessions ping during the hold: a raw session without
// --send has nothing to send, so it only holds (no schedule, no timeouts).
func (o *Options) pings() bool {
	return o.PingInterval > 0 && !(o.Protocol == ProtocolRaw && o.Send == "")
}

func (sh *shard) add(s *session) {
	iv := sh.r.opts.PingInterval
	if !sh.r.opts.pings() {
		iv = livenessInterval
	}
	// Spread first pings over the interval so they do not arrive in
	// waves; the loop adds the hold's start.
	s.nextDue = time.Duration(uint64(s.idx) * 0x9E3779B97F4A7C15 % uint64(iv))
	sh.mu.Lock()
	sh.pending = append(sh.pending, s)
	sh.mu.Unlock()
}

// tick is how often a shard looks for due pings: fine enough that pings
// leave within a few milliseconds of schedule.
const tick = 5 * time.Millisecond

// onTick is the time a ping due at due is scheduled to leave: the first
// tick of the shard's grid (start + k·tick) at or after due, and never
// after now, when it is actually being sent. Pings can only leave on a
// tick, so timing rtt from due itself would add 0–tick of the generator's
// own quantization to every round trip; timing it from the tick keeps what
// the schedule is for (a pass over the shard slowed by a stall or a blocked
// write still counts) without that bias.
func onTick(due, start, now time.Duration) time.Duration {
	if due > start {
		due = start + (due-start+tick-1)/tick*tick
	}
	return min(due, now)
}

func (sh *shard) loop(ctx context.Context) {
	// The grid starts before the ticker, so that its points are never
	// later than the ticker's own.
	start := time.Duration(sh.r.now())
	t := time.NewTicker(tick)
	defer t.Stop()
	iv := sh.r.opts.PingInterval
	pings := sh.r.opts.pings()
	timeout := sh.r.opts.RequestTimeout
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sh.mu.Lock()
		for _, s := range sh.pending {
			s.nextDue += start
		}
		sh.sessions = append(sh.sessions, sh.pending...)
		sh.pending = sh.pending[:0]
		list := sh.sessions
		sh.mu.Unlock()
		now := time.Duration(sh.r.now())
		for _, s := range list {
			if s.dead || s.nextDue > now {
				continue
			}
			if err := s.c.err(); err != nil {
				sh.drop(s, err)
				continue
			}
			if !pings {
				s.nextDue += livenessInterval
				continue
			}
			if sched := s.pingSched.Load(); sched != 0 {
				if now-time.Duration(sched) < timeout {
					// Still waiting: skip this beat; the reply's latency,
					// corrected with the interval, stands for the skipped ones.
					s.nextDue += iv
					continue
				}
				sh.r.countError(context.DeadlineExceeded)
				s.pingSched.CompareAndSwap(sched, 0)
			}
			sched := int64(onTick(s.nextDue, start, now))
			storeMax(&sh.r.pingLag, int64(now)-sched)
			s.pingSent.Store(sh.r.now())
			s.pingSched.Store(sched)
			if err := s.c.ping(sched); err != nil {
				s.pingSched.Store(0)
				sh.drop(s, err)
				continue
			}
			s.nextDue += iv
			if s.nextDue < now {
				// Far behind (a long stall): resume the beat from now.
				s.nextDue = now + iv
			}
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (sh *shard) drop(s *session, err error) {
	s.dead = true
	if e := s.c.err(); e != nil {
		err = e
	}
	sh.r.countError(err)
	sh.r.dropped.Add(1)
	sh.r.open.Add(-1)
	_ = s.c.leave(context.Background()) // closes; the session is already gone
}

// memSample is the process's memory at one moment.
type memSample struct{ rss, goBytes uint64 }

// memBaseline and memNow collect garbage first, so that the difference is
// what live sessions hold, not what the ramp left for the collector.
func memBaseline() memSample { return memNow() }

func memNow() memSample {
	// FreeOSMemory collects and returns freed pages to the kernel, so RSS
	// holds what is live, not garbage awaiting the next cycle.
	debug.FreeOSMemory()
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	metrics.Read(s)
	var g uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			g += x.Value.Uint64()
		}
	}
	return memSample{rss: bench.ProcessRSS(), goBytes: g}
}

//go:build fanout

// Package fanout is the media fan-out load run: one `livectl serve` process,
// one `livectl publish` of the built-in clip (VP8 ~1.3 Mbit/s + Opus) over
// WHIP, and N pion subscribers over WHEP in this process — an independent
// client: it shares no code with the relay. It reports loss at the
// subscribers (after NACK repair), and the server's CPU and memory, in all
// and per viewer (RSS per viewer counts from the server's RSS with the
// publisher and no viewer).
//
//	go test -tags fanout ./e2e/fanout -run TestFanOut -v -timeout 20m
//	FANOUT_SUBS=200 FANOUT_SECONDS=20 FANOUT_RUNS=3 LIVECTL_BIN=bin/livectl go test -tags fanout ./e2e/fanout -v
//
// Before/after in one invocation: FANOUT_BINS names the server binaries to
// compare and FANOUT_NS the viewer counts; the runs interleave the binaries
// so that both see the same load, and the table has medians over the runs.
// The publisher is each server's own binary.
//
//	FANOUT_BINS=before=/tmp/livectl-main,after=bin/livectl FANOUT_NS=50,100,200 FANOUT_RUNS=3 \
//	  go test -tags fanout ./e2e/fanout -v -timeout 60m
package fanout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/server/servertest"
	"github.com/livectl/livectl/internal/stats"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// procCPU returns a process's user+system CPU time in clock ticks (100/s).
func procCPU(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, nil
}

// procMem returns VmRSS and VmHWM in bytes.
func procMem(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 {
			v, _ := strconv.ParseInt(fs[1], 10, 64)
			switch fs[0] {
			case "VmRSS:":
				rss = v * 1024
			case "VmHWM:":
				hwm = v * 1024
			}
		}
	}
	return rss, hwm
}

// seqTrack counts one received track's packets by extended sequence number.
type seqTrack struct {
	mu        sync.Mutex
	have      bool
	ext       uint64
	got       map[uint64]bool
	counting  bool
	first     uint64 // first extended seq seen while counting
	haveFirst bool
	last      uint64 // highest when counting stopped
}

func (s *seqTrack) add(seq uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e uint64
	if !s.have {
		s.have, e = true, uint64(seq)+1<<20
		s.ext = e
	} else {
		e = s.ext&^0xffff | uint64(seq)
		if d := int16(seq - uint16(s.ext)); d > 0 && e < s.ext {
			e += 1 << 16
		} else if d < 0 && e > s.ext {
			e -= 1 << 16
		}
		if e > s.ext {
			s.ext = e
		}
	}
	s.got[e] = true
	if s.counting && !s.haveFirst {
		s.first, s.haveFirst = e, true
	}
}

func (s *seqTrack) start() { s.mu.Lock(); s.counting = true; s.mu.Unlock() }
func (s *seqTrack) stop()  { s.mu.Lock(); s.counting = false; s.last = s.ext; s.mu.Unlock() }

func (s *seqTrack) result() (expected, missing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveFirst {
		return 0, 0
	}
	for e := s.first; e <= s.last; e++ {
		expected++
		if !s.got[e] {
			missing++
		}
	}
	return expected, missing
}

type subscriber struct {
	pc     *webrtc.PeerConnection
	close  func()
	loc    string
	mu     sync.Mutex
	tracks []*seqTrack
}

// newAPI gives each subscriber its own UDP socket (through an ICE UDP mux)
// with a 1 MiB receive buffer: 200 peers in one process on a busy 2-core
// machine otherwise lose packets in the kernel before pion reads them.
func newAPI() (*webrtc.API, func(), error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetReadBuffer(1 << 20)
	mux := ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn})
	m := &webrtc.MediaEngine{}
	_ = m.RegisterDefaultCodecs()
	ir := &interceptor.Registry{}
	_ = webrtc.RegisterDefaultInterceptors(m, ir)
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetSRTPReplayProtectionWindow(1024)
	se.SetICEUDPMux(mux)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return api, func() { mux.Close(); conn.Close() }, nil
}

func subscribe(ctx context.Context, url string) (*subscriber, error) {
	api, closeMux, err := newAPI()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		closeMux()
		return nil, err
	}
	s := &subscriber{pc: pc, close: func() { pc.Close(); closeMux() }}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		st := &seqTrack{got: map[uint64]bool{}}
		s.mu.Lock()
		s.tracks = append(s.tracks, st)
		s.mu.Unlock()
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				st.add(uint16(buf[2])<<8 | uint16(buf[3]))
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-done
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("WHEP %d: %s", resp.StatusCode, body)
	}
	s.loc = resp.Header.Get("Location")
	return s, pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

type runResult struct {
	subs, connected   int
	lossPct           float64
	expected, missing int
	serverCPUPct      float64
	rss, hwm          int64
	rssIdle           int64 // with the publisher and no viewer
	// Go's memory after a forced collection, with the publisher and no
	// viewer (idle) and after the measurement: what RSS per viewer is made
	// of (the GC lets the heap grow to about twice heap + stacks before it
	// collects).
	idle, mem          goMemory
	cpuSec, elapsed    float64
	pktsOut, bytesOut  uint64 // during the measurement
	bitrateIn, bitOut  uint64
	nacks, plis, drops uint64
	clientCPUPct       float64
	rcvbufErrs         int64
}

func getStats(base string) (stats.Snapshot, error) {
	var s stats.Snapshot
	resp, err := http.Get(base + "/v1/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func oneRun(t *testing.T, bin string, nsubs int, measure time.Duration) runResult {
	addr := servertest.FreePort(t, "tcp")
	_, udpPort, _ := net.SplitHostPort(servertest.FreePort(t, "udp"))
	base := "http://" + addr
	// FANOUT_ADMIN=127.0.0.1:6061 puts the server's pprof where a profiler
	// can find it during the run; the test reads the heap figures there.
	admin := os.Getenv("FANOUT_ADMIN")
	if admin == "" {
		admin = servertest.FreePort(t, "tcp")
	}
	srv := exec.Command(bin, "serve", "--dev", "--listen", addr,
		"--admin-listen", admin, "--udp-port", udpPort, "--max-participants", "1000")
	var srvErr bytes.Buffer
	srv.Stderr = &srvErr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	for i := 0; ; i++ {
		if _, err := getStats(base); err == nil {
			break
		}
		if i > 100 {
			t.Fatalf("serve did not come up:\n%s", srvErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub := exec.Command(bin, "publish", "--url", base+"/whip/fan", "--quiet")
	pub.Stderr = io.Discard
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pub.Process.Signal(os.Interrupt); pub.Wait() }()
	time.Sleep(2 * time.Second)
	rssIdle, _ := procMem(srv.Process.Pid)
	memIdle, err := goMem(admin)
	if err != nil {
		t.Fatalf("reading the server's heap figures: %v", err)
	}

	ctx := context.Background()
	subs := make([]*subscriber, 0, nsubs)
	for i := 0; i < nsubs; i++ {
		s, err := subscribe(ctx, base+"/whep/fan")
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		subs = append(subs, s)
	}
	defer func() {
		for _, s := range subs {
			s.close()
		}
	}()
	// Warm up: every subscriber connected and receiving.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, s := range subs {
			s.mu.Lock()
			if len(s.tracks) == 2 {
				n++
			}
			s.mu.Unlock()
		}
		if n == len(subs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	var res runResult
	res.subs = nsubs
	res.rssIdle = rssIdle
	all := func(f func(*seqTrack)) {
		for _, s := range subs {
			s.mu.Lock()
			for _, tr := range s.tracks {
				f(tr)
			}
			s.mu.Unlock()
		}
	}
	for _, s := range subs {
		s.mu.Lock()
		if len(s.tracks) == 2 {
			res.connected++
		}
		s.mu.Unlock()
	}
	rb0 := rcvbufErrors()
	st0, _ := getStats(base)
	cpu0, _ := procCPU(srv.Process.Pid)
	self0, _ := procCPU(os.Getpid())
	t0 := time.Now()
	all((*seqTrack).start)
	time.Sleep(measure)
	all((*seqTrack).stop)
	cpu1, _ := procCPU(srv.Process.Pid)
	self1, _ := procCPU(os.Getpid())
	el := time.Since(t0).Seconds()
	st1, _ := getStats(base)
	res.rcvbufErrs = rcvbufErrors() - rb0
	res.rss, res.hwm = procMem(srv.Process.Pid)
	time.Sleep(1500 * time.Millisecond) // late retransmissions still count
	res.idle = memIdle
	if res.mem, err = goMem(admin); err != nil { // forces a GC: after the figures above
		t.Fatalf("reading the server's heap figures: %v", err)
	}
	all(func(tr *seqTrack) {
		e, m := tr.result()
		res.expected += e
		res.missing += m
	})
	if res.expected > 0 {
		res.lossPct = 100 * float64(res.missing) / float64(res.expected)
	}
	res.serverCPUPct = 100 * float64(cpu1-cpu0) / 100 / el
	res.clientCPUPct = 100 * float64(self1-self0) / 100 / el
	for _, r := range st1.Rooms {
		if r.Name == "fan" {
			res.bitrateIn, res.bitOut = r.BitrateInBps, r.BitrateOutBps
		}
	}
	res.nacks, res.plis = st1.NACKs-st0.NACKs, st1.PLIs-st0.PLIs
	res.cpuSec, res.elapsed = float64(cpu1-cpu0)/100, el
	res.pktsOut, res.bytesOut = st1.PacketsOut-st0.PacketsOut, st1.BytesOut-st0.BytesOut
	return res
}

// namedBin is a server binary under test.
type namedBin struct{ name, path string }

// binaries reads FANOUT_BINS (name=path,…); without it, the one binary
// servertest.Binary gives (LIVECTL_BIN or a fresh build).
func binaries(t *testing.T) []namedBin {
	v := os.Getenv("FANOUT_BINS")
	if v == "" {
		return []namedBin{{"livectl", servertest.Binary(t)}}
	}
	var out []namedBin
	for _, f := range strings.Split(v, ",") {
		name, path, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("FANOUT_BINS %q: want name=path,…", v)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, namedBin{name, abs})
	}
	return out
}

// viewerCounts reads FANOUT_NS (50,100,200); without it, FANOUT_SUBS.
func viewerCounts() []int {
	var ns []int
	for _, f := range strings.Split(os.Getenv("FANOUT_NS"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			ns = append(ns, n)
		}
	}
	if len(ns) == 0 {
		ns = []int{envInt("FANOUT_SUBS", 200)}
	}
	return ns
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:min(3, len(strings.Fields(string(b))))], " ")
}

func TestFanOut(t *testing.T) {
	bins := binaries(t)
	ns := viewerCounts()
	secs := envInt("FANOUT_SECONDS", 20)
	runs := envInt("FANOUT_RUNS", 3)
	type key struct {
		bin string
		n   int
	}
	results := map[key][]runResult{}
	t.Logf("load average at the start: %s", loadavg())
	for _, n := range ns {
		for i := range runs {
			for _, b := range bins {
				r := oneRun(t, b.path, n, time.Duration(secs)*time.Second)
				t.Logf("%s, run %d: %d/%d subscribers receiving; loss %.3f%% (%d of %d packets); server CPU %.0f%% RSS %.1f MiB (peak %.1f MiB, %.1f MiB without viewers); per viewer %.0f KB live heap, %.0f KB stacks; room in %.2f Mbit/s out %.1f Mbit/s; NACKs %d PLIs %d; subscribers' process CPU %.0f%%; host UDP receive-buffer drops %d; load average %s",
					b.name, i+1, r.connected, r.subs, r.lossPct, r.missing, r.expected, r.serverCPUPct, float64(r.rss)/(1<<20), float64(r.hwm)/(1<<20), float64(r.rssIdle)/(1<<20),
					float64(r.mem.heap-r.idle.heap)/1e3/float64(r.subs), float64(r.mem.stack-r.idle.stack)/1e3/float64(r.subs),
					float64(r.bitrateIn)/1e6, float64(r.bitOut)/1e6, r.nacks, r.plis, r.clientCPUPct, r.rcvbufErrs, loadavg())
				results[key{b.name, n}] = append(results[key{b.name, n}], r)
			}
		}
	}
	t.Logf("load average at the end: %s", loadavg())
	t.Logf("medians of %d runs, %ds each (CPU: %% of one core; per viewer: server CPU / N, (RSS − RSS without viewers) / N;"+
		" per 1.5 Mbit/s viewer: server CPU / (bytes sent / 1.5 Mbit/s), which a starved publisher or server does not flatter;"+
		" steady MB/vw: the GC's heap goal plus stacks per viewer, what Go's memory per viewer reaches however long the run"+
		" (RSS at the end of a short run can be under it; RSS in steady state is above it by the runtime's own overhead))", runs, secs)
	t.Logf("%-8s %5s %8s %10s %12s %16s %12s %10s %14s %14s %12s %12s", "server", "N", "loss %", "CPU %", "CPU %/viewer", "CPU %/1.5M-view", "CPU µs/pkt", "RSS MiB", "RSS MB/viewer", "steady MB/vw", "heap KB/vw", "stack KB/vw")
	for _, n := range ns {
		for _, b := range bins {
			rs := results[key{b.name, n}]
			med := func(f func(runResult) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				slices.Sort(v)
				return v[len(v)/2]
			}
			loss := med(func(r runResult) float64 { return r.lossPct })
			t.Logf("%-8s %5d %8.3f %10.1f %12.3f %16.3f %12.2f %10.1f %14.3f %14.3f %12.0f %12.0f", b.name, n, loss,
				med(func(r runResult) float64 { return r.serverCPUPct }),
				med(func(r runResult) float64 { return r.serverCPUPct / float64(r.subs) }),
				med(func(r runResult) float64 {
					viewers := float64(r.bytesOut) * 8 / r.elapsed / 1.5e6
					return r.serverCPUPct / max(viewers, 1e-9)
				}),
				med(func(r runResult) float64 { return r.cpuSec * 1e6 / max(float64(r.pktsOut), 1) }),
				med(func(r runResult) float64 { return float64(r.rss) / (1 << 20) }),
				med(func(r runResult) float64 { return float64(r.rss-r.rssIdle) / 1e6 / float64(r.subs) }),
				med(func(r runResult) float64 { return float64(r.mem.steady()-r.idle.steady()) / 1e6 / float64(r.subs) }),
				med(func(r runResult) float64 { return float64(r.mem.heap-r.idle.heap) / 1e3 / float64(r.subs) }),
				med(func(r runResult) float64 { return float64(r.mem.stack-r.idle.stack) / 1e3 / float64(r.subs) }))
			if loss >= 0.5 {
				t.Errorf("%s, %d subscribers: median loss %.3f%% at the subscribers, want under 0.5%%", b.name, n, loss)
			}
		}
	}
}

// goMemory is a Go process's memory after a forced collection: the live
// heap (HeapAlloc), the goroutine stacks (StackInuse) and the heap the GC
// lets grow before its next collection (NextGC, the goal: live heap plus
// GOGC % of live heap, stacks and globals).
type goMemory struct{ heap, stack, goal int64 }

// steady is what the process's Go memory returns to between collections
// once it has run long enough to reach the goal: the heap at its goal,
// and the stacks beside it.
func (m goMemory) steady() int64 { return m.goal + m.stack }

// goMem reads the server's goMemory from its admin listener
// (/debug/pprof/heap?debug=1&gc=1 forces a collection and ends with the
// runtime's MemStats).
func goMem(admin string) (goMemory, error) {
	var m goMemory
	resp, err := http.Get("http://" + admin + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET heap profile: %s", resp.Status)
	}
	seen := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // "# HeapAlloc = N", "# Stack = N / M", "# NextGC = N"
		if len(f) < 4 || f[0] != "#" || f[2] != "=" {
			continue
		}
		v, perr := strconv.ParseInt(f[3], 10, 64)
		if perr != nil {
			continue
		}
		switch f[1] {
		case "HeapAlloc":
			m.heap = v
		case "Stack":
			m.stack = v
		case "NextGC":
			m.goal = v
		default:
			continue
		}
		seen++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if seen != 3 {
		return m, errors.New("no HeapAlloc, Stack and NextGC lines in the heap profile")
	}
	return m, nil
}

// rcvbufErrors is the host's count of UDP datagrams dropped because a
// socket's receive buffer was full (all processes: other load counts too).
func rcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "Udp: ") {
			continue
		}
		f := strings.Fields(line)[1:]
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

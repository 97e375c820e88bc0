package bench

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/livectl/livectl/internal/bench/preflight"
)

// Generator is the load generator's account of itself: whether the numbers
// measure the server or the machine the generator ran on.
type Generator struct {
	// CPUCoresMax is the most CPU the generator used in any one-second
	// sample, in cores; HostBusyMax the machine's busiest second (0..1).
	CPUCoresMax float64 `json:"cpu_cores_max"`
	Cores       int     `json:"cores"`
	HostBusyMax float64 `json:"host_busy_max"`
	// OthersCoresAtHostMax is the CPU the rest of the machine (the server,
	// when it runs here, and anything else) used in that busiest second.
	OthersCoresAtHostMax float64 `json:"others_cores_at_host_max"`
	// GCPauseMaxMS is the longest stop-the-world pause.
	GCPauseMaxMS float64 `json:"gc_pause_max_ms"`
	// ScheduleLagMaxMS is how far the ramp fell behind its schedule at worst:
	// attempts that started late because the generator was busy.
	ScheduleLagMaxMS float64 `json:"schedule_lag_max_ms"`
	// PingLagMaxMS is the same for pings during hold.
	PingLagMaxMS  float64 `json:"ping_lag_max_ms"`
	RSSPeakBytes  uint64  `json:"rss_peak_bytes"`
	OpenFilesMax  int     `json:"open_files_max"`
	GoroutinesMax int     `json:"goroutines_max"`
	// Bottleneck says the generator, not the target, may have limited the
	// results; Reasons says why.
	Bottleneck bool     `json:"bottleneck"`
	Reasons    []string `json:"reasons,omitempty"`
}

// Thresholds above which the generator counts as the bottleneck.
const (
	cpuBusyShare     = 0.90                   // of the generator's cores
	hostBusyShare    = 0.95                   // of the whole machine, with the generator a large part of it
	gcPauseLimit     = 10 * time.Millisecond  // one pause
	scheduleLagLimit = 50 * time.Millisecond  // ramp behind schedule
	pingLagLimit     = 100 * time.Millisecond // pings sent late
)

// monitor samples the process once a second.
type monitor struct {
	mu   sync.Mutex
	g    Generator
	stop chan struct{}
	done chan struct{}

	lastCPU   time.Duration
	lastWall  time.Time
	lastHost  [2]uint64 // busy, total jiffies
	lastPause []uint64
	samples   []metrics.Sample
}

func startMonitor() *monitor {
	m := &monitor{stop: make(chan struct{}), done: make(chan struct{})}
	m.g.Cores = runtime.GOMAXPROCS(0)
	m.samples = []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}, {Name: "/sched/goroutines:goroutines"}}
	m.lastCPU, m.lastWall = cpuTime(), time.Now()
	m.lastHost = hostJiffies()
	m.sample(false)
	go m.loop()
	return m
}

func (m *monitor) loop() {
	defer close(m.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sample(true)
		}
	}
}

// fullSample is the shortest sample whose rates count toward the maxima:
// the ticker's second, less scheduling slack. The last sample, taken when
// the run finishes, covers a fraction of a second; over 30 ms a few ms of
// CPU read as a busy core and a jiffy or two of the machine's 100 Hz
// counters as a saturated host, which once warned on idle runs.
const fullSample = 900 * time.Millisecond

func (m *monitor) sample(rates bool) {
	now, cpu, host := time.Now(), cpuTime(), hostJiffies()
	metrics.Read(m.samples)
	pause := maxNewPause(m.samples[0].Value, m.lastPause)
	if h := m.samples[0].Value; h.Kind() == metrics.KindFloat64Histogram {
		m.lastPause = append(m.lastPause[:0], h.Float64Histogram().Counts...)
	}
	rss := rssBytes()
	files, _ := preflight.OpenFDs()

	m.mu.Lock()
	defer m.mu.Unlock()
	if rates {
		m.rates(now, cpu, host, runtime.NumCPU())
	}
	m.lastCPU, m.lastWall, m.lastHost = cpu, now, host
	m.g.GCPauseMaxMS = max(m.g.GCPauseMaxMS, pause.Seconds()*1000)
	m.g.RSSPeakBytes = max(m.g.RSSPeakBytes, rss)
	m.g.OpenFilesMax = max(m.g.OpenFilesMax, files)
	if g := m.samples[1].Value; g.Kind() == metrics.KindUint64 {
		m.g.GoroutinesMax = max(m.g.GoroutinesMax, int(g.Uint64()))
	}
}

// rates folds the sample since the last one into the busiest-second maxima
// when it covers a full second (fullSample); cpus is the machine's.
func (m *monitor) rates(now time.Time, cpu time.Duration, host [2]uint64, cpus int) {
	wall := now.Sub(m.lastWall)
	if wall < fullSample {
		return
	}
	gen := float64(cpu-m.lastCPU) / float64(wall)
	m.g.CPUCoresMax = max(m.g.CPUCoresMax, gen)
	if dt := host[1] - m.lastHost[1]; dt > 0 {
		busy := float64(host[0]-m.lastHost[0]) / float64(dt)
		if busy >= m.g.HostBusyMax {
			m.g.HostBusyMax = busy
			m.g.OthersCoresAtHostMax = max(0, busy*float64(cpus)-gen)
		}
	}
}

// maxNewPause is the upper bound of the highest pause bucket that gained
// counts since prev.
func maxNewPause(v metrics.Value, prev []uint64) time.Duration {
	if v.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := v.Float64Histogram()
	for i := len(h.Counts) - 1; i >= 0; i-- {
		var before uint64
		if i < len(prev) {
			before = prev[i]
		}
		if h.Counts[i] > before {
			hi := h.Buckets[i+1]
			if hi > 3600 { // the last bucket is unbounded; use its lower edge
				hi = h.Buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}

// finish stops sampling and judges whether the generator was the bottleneck.
func (m *monitor) finish(scheduleLag, pingLag time.Duration) Generator {
	close(m.stop)
	<-m.done
	m.sample(true)
	m.mu.Lock()
	defer m.mu.Unlock()
	return judgeGenerator(m.g, scheduleLag, pingLag)
}

// judgeGenerator completes g, the monitor's maxima, with the run's lags and
// judges whether the generator may have been the bottleneck.
func judgeGenerator(g Generator, scheduleLag, pingLag time.Duration) Generator {
	g.ScheduleLagMaxMS = float64(scheduleLag) / float64(time.Millisecond)
	g.PingLagMaxMS = float64(pingLag) / float64(time.Millisecond)
	if g.CPUCoresMax >= cpuBusyShare*float64(g.Cores) {
		g.Reasons = append(g.Reasons, fmt.Sprintf("generator used %.2f of its %d cores", g.CPUCoresMax, g.Cores))
	} else if g.HostBusyMax >= hostBusyShare && g.CPUCoresMax >= 0.5 {
		g.Reasons = append(g.Reasons, fmt.Sprintf("the machine's CPU was %.0f%% busy (generator up to %.2f cores; server and other processes %.2f cores in the busiest second)",
			g.HostBusyMax*100, g.CPUCoresMax, g.OthersCoresAtHostMax))
	}
	if g.GCPauseMaxMS >= float64(gcPauseLimit)/float64(time.Millisecond) {
		g.Reasons = append(g.Reasons, fmt.Sprintf("a GC pause of %.1fms", g.GCPauseMaxMS))
	}
	if scheduleLag >= scheduleLagLimit {
		g.Reasons = append(g.Reasons, fmt.Sprintf("the ramp fell %.0fms behind its schedule", g.ScheduleLagMaxMS))
	}
	if pingLag >= pingLagLimit {
		g.Reasons = append(g.Reasons, fmt.Sprintf("pings went out up to %.0fms late", g.PingLagMaxMS))
	}
	g.Bottleneck = len(g.Reasons) > 0
	return g
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssBytes is the process's resident set size now.
func rssBytes() uint64 {
	return procStatusRSS("/proc/self/status")
}

// procStatusRSS reads VmRSS from a /proc/<pid>/status file.
func procStatusRSS(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// hostJiffies reads the machine's busy and total CPU time from /proc/stat.
func hostJiffies() [2]uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return [2]uint64{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return [2]uint64{}
	}
	var total, idle uint64
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return [2]uint64{total - idle, total}
}

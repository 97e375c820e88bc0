package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// This file exports the generator's self-watch and the /proc readings to
// the generators (bench/signalbench, bench/mediabench) and the server
// sampler, so that every load generator judges itself and reads the target
// the same way.

// Monitor is the generator's watch on itself: CPU, GC pauses, memory, open
// files and goroutines, sampled once a second.
type Monitor struct{ m *monitor }

// StartMonitor starts watching this process.
func StartMonitor() *Monitor { return &Monitor{m: startMonitor()} }

// Finish stops the watch and judges whether the generator was the
// bottleneck; scheduleLag is how far the generator's own schedule slipped,
// pingLag how late its periodic messages went out at worst (0 if it sends
// none).
func (m *Monitor) Finish(scheduleLag, pingLag time.Duration) Generator {
	return m.m.finish(scheduleLag, pingLag)
}

// ProcessCPU is this process's user+system CPU time so far.
func ProcessCPU() time.Duration { return cpuTime() }

// ProcessRSS is this process's resident set size now.
func ProcessRSS() uint64 { return rssBytes() }

// PIDRSS is the resident set size of another process on this machine (0 if
// it cannot be read).
func PIDRSS(pid int) uint64 { return procStatusRSS("/proc/" + strconv.Itoa(pid) + "/status") }

// PIDCPU is the user+system CPU time another process on this machine has
// used, from /proc/<pid>/stat; ok is false when it cannot be read.
func PIDCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64) // utime, field 14
	st, err2 := strconv.ParseUint(f[12], 10, 64) // stime, field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, true
}

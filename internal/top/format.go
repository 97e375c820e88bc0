package top

import (
	"fmt"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/term/units"
)

// formatBits renders a bitrate as every livectl tool does.
func formatBits(bps float64) string { return units.Bits(bps) }

// formatBytes renders a memory size with binary prefixes, as Go's runtime reports them.
func formatBytes(b float64) string {
	const k = 1024.0
	switch {
	case b >= k*k*k:
		return fmt.Sprintf("%.1f GiB", b/(k*k*k))
	case b >= k*k:
		return fmt.Sprintf("%.1f MiB", b/(k*k))
	case b >= k:
		return fmt.Sprintf("%.1f KiB", b/k)
	}
	return fmt.Sprintf("%.0f B", b)
}

// formatPause renders a GC pause in the unit that keeps three digits.
func formatPause(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	}
	return fmt.Sprintf("%dns", d)
}

// formatUptime renders an uptime with its two largest units: 3d04h, 1h02m, 5m12s.
func formatUptime(s float64) string {
	t := int64(s)
	d, h, m, sec := t/86400, t%86400/3600, t%3600/60, t%60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd%02dh", d, h)
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}

// formatAge renders how long ago something happened, in whole seconds.
func formatAge(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	return formatUptime(d.Seconds())
}

func formatPct(p float64) string {
	if p > 0 && p < 0.01 {
		return "<0.01 %"
	}
	return fmt.Sprintf("%.2f %%", p)
}

// perSecond renders an event rate compactly: 950/s, 1.2k/s.
func perSecond(v float64) string { return compact(v) + "/s" }

// compact renders a number with an SI prefix and no space: 950, 1.2k.
func compact(v float64) string {
	return strings.ReplaceAll(units.SI(v, ""), " ", "")
}

package inspect

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ShortFunc trims the import path of a function name to its last element:
// github.com/livectl/livectl/internal/inspect.(*Client).Fetch becomes
// inspect.(*Client).Fetch. A major-version element keeps the one before it
// (github.com/pion/ice/v4.(*Agent).run is ice/v4.(*Agent).run, not
// v4.(*Agent).run, which names no package). Tables use it; JSON keeps full
// names.
func ShortFunc(fn string) string {
	// The package path ends at the last slash before the first dot after it;
	// generic type arguments may hold slashes, so cut at '[' first.
	head := fn
	if i := strings.IndexByte(head, '['); i >= 0 {
		head = head[:i]
	}
	i := strings.LastIndexByte(head, '/')
	if i < 0 {
		return fn
	}
	if isMajorVersion(head[i+1:]) {
		if j := strings.LastIndexByte(head[:i], '/'); j >= 0 {
			return fn[j+1:]
		}
		return fn
	}
	return fn[i+1:]
}

// isMajorVersion says whether rest (a package's last path element and what
// follows it) starts with a module major version such as "v4.".
func isMajorVersion(rest string) bool {
	pkg, _, _ := strings.Cut(rest, ".")
	if len(pkg) < 2 || pkg[0] != 'v' {
		return false
	}
	_, err := strconv.Atoi(pkg[1:])
	return err == nil
}

// WaitRange renders a group's wait as people read it: "-" when unknown,
// "<1m" below Go's one-minute resolution, "5m" or "2m–5m".
func (g *Group) WaitRange() string {
	if g.WaitMaxS == nil {
		return "-"
	}
	hi := time.Duration(*g.WaitMaxS * float64(time.Second))
	if hi < time.Minute {
		return "<1m"
	}
	lo := time.Duration(*g.WaitMinS * float64(time.Second))
	if lo == hi {
		return fmtMinutes(hi)
	}
	if lo < time.Minute {
		return "<1m–" + fmtMinutes(hi)
	}
	return fmtMinutes(lo) + "–" + fmtMinutes(hi)
}

func fmtMinutes(d time.Duration) string {
	m := int64(d / time.Minute)
	if m >= 120 {
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
	return strconv.FormatInt(m, 10) + "m"
}

// StateText is the group's state with a note when its goroutines differ.
func (g *Group) StateText() string {
	if g.State == "" {
		return "-"
	}
	other := 0
	for s, n := range g.States {
		if s != g.State {
			other += n
		}
	}
	if other > 0 {
		return fmt.Sprintf("%s (+%d other)", g.State, other)
	}
	return g.State
}

// WriteGoroutineTable writes a report as a table for people; stacks adds
// each group's full stack under the table.
func WriteGoroutineTable(w io.Writer, r *Report, stacks bool) error {
	fmt.Fprint(w, plural(r.Total, "goroutine"))
	if r.Matched != r.Total {
		fmt.Fprintf(w, ", %d matching the filter", r.Matched)
	}
	fmt.Fprintf(w, " in %d groups", r.GroupCount)
	if len(r.Groups) < r.GroupCount {
		fmt.Fprintf(w, " (top %d shown)", len(r.Groups))
	}
	if r.Depth > 0 {
		fmt.Fprintf(w, ", grouped by the top %d frames", r.Depth)
	}
	fmt.Fprintln(w)
	if len(r.Groups) == 0 {
		fmt.Fprintln(w, "no goroutine matched")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNT\tSTATE\tWAIT\tTOP\tLOCATION\tCREATED BY / ENTRY")
	for i := range r.Groups {
		g := &r.Groups[i]
		origin := ShortFunc(g.CreatedBy)
		switch {
		case g.CreatedBy != "":
		case g.Entry != "":
			origin = "go " + ShortFunc(g.Entry)
		default:
			origin = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", g.Count, g.StateText(), g.WaitRange(), ShortFunc(g.Top), g.TopLocation, origin)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if stacks {
		for i := range r.Groups {
			g := &r.Groups[i]
			fmt.Fprintf(w, "\n%s, %s:\n", plural(g.Count, "goroutine"), g.StateText())
			for j, fn := range g.Stack {
				fmt.Fprintf(w, "    %s\n        %s\n", fn, g.Locations[j])
			}
			if g.CreatedBy != "" {
				fmt.Fprintf(w, "    created by %s\n", g.CreatedBy)
			}
		}
	}
	return nil
}

// WriteSeriesTable writes the growth ranking of a --diff or --watch.
func WriteSeriesTable(w io.Writer, s *Series) error {
	first, last := s.Samples[0], s.Samples[len(s.Samples)-1]
	span := last.At.Sub(first.At).Round(time.Second)
	fmt.Fprintf(w, "%d samples", len(s.Samples))
	if span > 0 {
		fmt.Fprintf(w, " over %s", span)
	}
	fmt.Fprintf(w, ": %d → %d goroutines (%+d)", first.Total, last.Total, last.Total-first.Total)
	if s.Interrupted {
		fmt.Fprint(w, " (interrupted: the samples taken)")
	}
	fmt.Fprintln(w)
	if len(s.Suspects) == 0 {
		fmt.Fprintln(w, "no stack group grew: no leak suspect")
		return nil
	}
	// The summary counts every group that grew, also those --top leaves
	// out of the table, so a leak ranked below the cut is still announced.
	all := s.allSuspects()
	steady := 0
	for _, sp := range all {
		if sp.Steady {
			steady++
		}
	}
	grew := "groups grew"
	if len(all) == 1 {
		grew = "group grew"
	}
	if len(s.Samples) < minSteadySamples {
		fmt.Fprintf(w, "%d %s (take %d or more samples, e.g. --watch, to tell steady growth from a burst)\n", len(all), grew, minSteadySamples)
	} else {
		fmt.Fprintf(w, "%d %s, %d at every sample (marked LEAK?)\n", len(all), grew, steady)
	}
	if len(s.Suspects) < len(all) {
		fmt.Fprintf(w, "showing the %d largest (--top %d; --top 0 shows all)\n", len(s.Suspects), len(s.Suspects))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROWTH\tCOUNTS\t\tSTATE\tTOP\tLOCATION")
	for _, sp := range s.Suspects {
		mark := ""
		if sp.Steady {
			mark = "LEAK?"
		}
		fmt.Fprintf(tw, "%+d\t%s\t%s\t%s\t%s\t%s\n", sp.Growth, countsText(sp.Counts), mark, sp.State, ShortFunc(sp.Top), sp.TopLocation)
	}
	return tw.Flush()
}

// countsText renders the counts of a suspect, eliding the middle of long series.
func countsText(c []int64) string {
	parts := make([]string, 0, 8)
	if len(c) <= 8 {
		for _, v := range c {
			parts = append(parts, strconv.FormatInt(v, 10))
		}
	} else {
		parts = append(parts, strconv.FormatInt(c[0], 10), strconv.FormatInt(c[1], 10), "…")
		for _, v := range c[len(c)-4:] {
			parts = append(parts, strconv.FormatInt(v, 10))
		}
	}
	return strings.Join(parts, "→")
}

// WriteTopTable writes a heap or CPU top table.
func WriteTopTable(w io.Writer, r *TopReport) error {
	fmt.Fprintf(w, "%s profile, %s: total %s", r.Kind, r.SampleType, FormatValue(r.Total, r.Unit))
	if r.DurationS > 0 {
		fmt.Fprintf(w, " over %s", time.Duration(r.DurationS*float64(time.Second)).Round(time.Millisecond))
	}
	var others []string
	types := make([]string, 0, len(r.Totals))
	for t := range r.Totals {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		if t != r.SampleType {
			others = append(others, t+" "+FormatValue(r.Totals[t], unitOf(t)))
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(others, ", "))
	}
	fmt.Fprintln(w)
	if len(r.Functions) == 0 {
		fmt.Fprintln(w, "no samples")
		return nil
	}
	if len(r.Functions) < r.FunctionCount {
		fmt.Fprintf(w, "top %d of %d functions\n", len(r.Functions), r.FunctionCount)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FLAT\tFLAT%\tCUM\tCUM%\t\tFUNCTION")
	for _, f := range r.Functions {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%s\t%.1f%%\t\t%s\n", FormatValue(f.Flat, r.Unit), f.FlatPct, FormatValue(f.Cum, r.Unit), f.CumPct, ShortFunc(f.Func))
	}
	return tw.Flush()
}

// unitOf guesses a heap sample type's unit from its name (the table header
// names other sample types, whose units the report does not carry).
func unitOf(sampleType string) string {
	switch {
	case strings.HasSuffix(sampleType, "_space"):
		return "bytes"
	case sampleType == "cpu":
		return "nanoseconds"
	}
	return "count"
}

// FormatValue renders a profile value in its unit: bytes as KiB/MiB/GiB,
// nanoseconds as a duration, anything else as a number.
func FormatValue(v int64, unit string) string {
	switch unit {
	case "bytes":
		f := float64(v)
		for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
			if f < 1024 || u == "GiB" {
				if u == "B" {
					return fmt.Sprintf("%dB", v)
				}
				return fmt.Sprintf("%.1f%s", f, u)
			}
			f /= 1024
		}
	case "nanoseconds":
		d := time.Duration(v)
		switch {
		case d >= time.Second:
			return fmt.Sprintf("%.2fs", d.Seconds())
		case d >= time.Millisecond:
			return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
		}
		return d.String()
	}
	return strconv.FormatInt(v, 10)
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.FormatInt(n, 10) + " " + word + "s"
}

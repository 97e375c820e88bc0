package mediabench

import (
	"cmp"
	"fmt"
	"slices"
)

// LayerGroup is the layers a group of subscribers received.
type LayerGroup struct {
	// Group is "all", or "shaped" / "unshaped" when the run held some
	// subscribers' paths to a rate.
	Group       string `json:"group"`
	Subscribers int    `json:"subscribers"`
	// Final counts subscribers by the size ("WxH") they received last;
	// TimeAtPct is the share of the group's receiving time at each size.
	Final     map[string]int     `json:"final"`
	TimeAtPct map[string]float64 `json:"time_at_pct"`
	Switches  Dist               `json:"switches"`
	// Freezes, FreezeMS and LossPct are the group's own: its subscribers'
	// freezes and freeze time summed, its packets lost over all its packets.
	Freezes  int64   `json:"freezes"`
	FreezeMS float64 `json:"freeze_ms"`
	LossPct  float64 `json:"loss_pct"`
}

// layerMix groups the subscribers that received frames: shaped and
// unshaped when some were shaped, else all (and then only when some
// subscriber received more than one size: a run without simulcast has no
// mix to report).
func layerMix(results []Result) []LayerGroup {
	shaped, switched := false, false
	for i := range results {
		shaped = shaped || results[i].Shaped
		switched = switched || len(results[i].Layers) > 1
	}
	if !shaped && !switched {
		return nil
	}
	if !shaped {
		return []LayerGroup{layerGroup("all", results, func(*Result) bool { return true })}
	}
	return []LayerGroup{
		layerGroup("shaped", results, func(r *Result) bool { return r.Shaped }),
		layerGroup("unshaped", results, func(r *Result) bool { return !r.Shaped }),
	}
}

func layerGroup(name string, results []Result, in func(*Result) bool) LayerGroup {
	g := LayerGroup{Group: name, Final: map[string]int{}, TimeAtPct: map[string]float64{}}
	var switches []float64
	var total float64
	var packets, lost int64
	for i := range results {
		r := &results[i]
		if !in(r) || len(r.Layers) == 0 {
			continue
		}
		g.Subscribers++
		g.Final[r.Layers[len(r.Layers)-1].Size]++
		for size, v := range r.TimeAtLayerMS {
			g.TimeAtPct[size] += v
			total += v
		}
		switches = append(switches, float64(r.LayerSwitches))
		g.Freezes += int64(r.Freezes)
		g.FreezeMS += r.FreezeMS
		packets, lost = packets+r.Packets, lost+r.PacketsLost
	}
	for size, v := range g.TimeAtPct {
		g.TimeAtPct[size] = round2(100 * v / total)
	}
	g.Switches = dist(switches)
	g.FreezeMS = round2(g.FreezeMS)
	if packets+lost > 0 {
		g.LossPct = round2(100 * float64(lost) / float64(packets+lost))
	}
	return g
}

// sizes lists a group's sizes, fewest pixels first.
func (g *LayerGroup) sizes() []string {
	var out []string
	for size := range g.TimeAtPct {
		out = append(out, size)
	}
	for size := range g.Final {
		if !slices.Contains(out, size) {
			out = append(out, size)
		}
	}
	pixels := func(size string) int {
		var w, h int
		fmt.Sscanf(size, "%dx%d", &w, &h)
		return w * h
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(pixels(a), pixels(b)) })
	return out
}

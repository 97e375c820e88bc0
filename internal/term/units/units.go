// Package units renders measured quantities for people: one format per
// quantity, so the dashboard and the command-line tools print a bitrate
// the same way.
package units

import (
	"fmt"
	"math"
)

// Bits renders a bitrate with SI prefixes, as network people read them:
// "1.5 Mb/s".
func Bits(bps float64) string { return SI(bps, "b/s") }

// SI renders v with a k, M or G prefix on unit, one decimal.
func SI(v float64, unit string) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return fmt.Sprintf("%.1f G%s", v/1e9, unit)
	case a >= 1e6:
		return fmt.Sprintf("%.1f M%s", v/1e6, unit)
	case a >= 1e3:
		return fmt.Sprintf("%.1f k%s", v/1e3, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

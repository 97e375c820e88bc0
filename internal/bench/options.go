package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Settings every generator reads the same way: its start rate and the
// name of a run (the local address toward the target is peer.LocalIPToward).

// NewRunID is a short name for a run, put in room and identity names so
// that runs against one server do not collide.
func NewRunID() string { return strconv.FormatInt(time.Now().UnixNano()%1e9, 36) }

// ParseRate reads a rate: "2000", "2000/s", "120/m", "0.5/s".
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("invalid rate %q: want a positive number per second, e.g. 2000 or 2000/s", s)
	}
	switch strings.TrimSpace(unit) {
	case "", "s":
		return v, nil
	case "m", "min":
		return v / 60, nil
	}
	return 0, fmt.Errorf("invalid rate %q: unit after / must be s or m", s)
}

package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// ByteSize is a flag value for sizes: a plain number of bytes or a number with
// a unit, B, KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
type ByteSize int64

var _ pflag.Value = (*ByteSize)(nil)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
	{"b", 1},
}

// ParseByteSize parses "64KiB", "1MiB", "65536", "1.5MB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	// Plain decimals only: ParseFloat would also take "nan", "inf", "1e3"
	// and hex; and a size is a whole number of bytes.
	n, err := strconv.ParseFloat(t, 64)
	v := n * float64(mult)
	if err != nil || !plainDecimal(t) || v > 1<<53 || v != math.Trunc(v) {
		return 0, fmt.Errorf("invalid size %q: want whole bytes or a number with KiB, MiB, GiB", s)
	}
	return ByteSize(v), nil
}

// String renders the size with the largest binary unit that divides it.
func (b *ByteSize) String() string {
	n := int64(*b)
	switch {
	case n != 0 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "GiB"
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

// Set implements pflag.Value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Type implements pflag.Value.
func (b *ByteSize) Type() string { return "size" }

// plainDecimal reports whether t is digits with at most one decimal point.
func plainDecimal(t string) bool {
	digits, dot := 0, false
	for _, c := range t {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// requirePositive is a usage error when the duration flag name is zero or
// negative. Timeouts have defaults; a 0 or -1s given on purpose is a
// mistake to report, not a cue to use the default quietly.
func requirePositive(f *Factory, name string, d time.Duration) error {
	if d <= 0 {
		return UsageErrorf("%s must be positive, got %s", f.FlagRef(name), d)
	}
	return nil
}

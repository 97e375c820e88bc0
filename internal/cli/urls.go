package cli

import (
	"net/url"
	"strings"

	"github.com/spf13/pflag"
)

// Several targets: bench signal, bench media and probe take their target
// URLs from a flag that is repeatable and takes comma-separated lists
// (--url A --url B, or --url A,B), so that one run reaches every node of a
// cluster; one URL behaves as it always did.

// urlListFlag adds a target URL flag of that form.
func urlListFlag(fl *pflag.FlagSet, p *[]string, name, usage string) {
	fl.StringSliceVar(p, name, nil, usage+"; repeat it or give a comma-separated list to spread sessions over several round-robin")
}

// Kinds of target URL: a WebSocket signaling URL, or an HTTP endpoint
// (WHIP, WHEP).
var (
	wsSchemes   = []string{"ws", "wss"}
	httpSchemes = []string{"http", "https"}
)

// targetURLs checks every URL of the list flag name up front: each must
// parse with a host and one of schemes, else a usage error names the flag,
// the bad URL and want (what a good one looks like). Spaces around items
// are trimmed and empty items dropped.
func targetURLs(f *Factory, name string, raw []string, want string, schemes ...[]string) ([]string, error) {
	var out []string
	for _, s := range raw {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if urlKind(s, schemes...) < 0 {
			return nil, UsageErrorf("%s %q: %s", f.FlagRef(name), s, want)
		}
		out = append(out, s)
	}
	return out, nil
}

// urlKind is the index in kinds of the scheme list that u's scheme is in,
// or -1 when u does not parse, has no host or has another scheme.
func urlKind(u string, kinds ...[]string) int {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return -1
	}
	for i, k := range kinds {
		for _, s := range k {
			if p.Scheme == s {
				return i
			}
		}
	}
	return -1
}

// oneKind refuses a list mixing /ws and HTTP URLs (for a command whose run
// is one kind of session); why says why it cannot mix them.
func oneKind(f *Factory, name string, urls []string, why string) error {
	for _, u := range urls[1:] {
		if urlKind(u, wsSchemes, httpSchemes) != urlKind(urls[0], wsSchemes, httpSchemes) {
			return UsageErrorf("%s mixes kinds: %q and %q; %s", f.FlagRef(name), urls[0], u, why)
		}
	}
	return nil
}

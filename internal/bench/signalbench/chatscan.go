package signalbench

// chatSeen is what a receiver needs of one chat message: its seq and
// client_time (0 when absent).
type chatSeen struct {
	seq uint64
	ct  int64
}

// scanChat reads a chat event frame encoded exactly as livectl serve
// encodes one (signal.Encode: compact JSON, fields in struct order),
//
//	{"type":"chat","room":"…","messages":[{"seq":N,"from":"…","text":"…","client_time":N,"server_time":N},…]}
//
// in one pass without decoding it, appending each message's seq and
// client_time to dst. Strings are skipped (escapes checked, as JSON
// requires), numbers read in place. Anything else (other spacing or
// field order, a negative time, a number out of range, trailing bytes)
// is refused with ok false, and the caller decodes the frame in full:
// what it accepts, encoding/json reads the same (FuzzScanChat).
func scanChat(b []byte, dst []chatSeen) (_ []chatSeen, ok bool) {
	p := chatScanner{b: b}
	if !p.lit(`{"type":"chat","room":`) || !p.str() || !p.lit(`,"messages":[`) {
		return dst, false
	}
	for {
		var m chatSeen
		if !p.lit(`{"seq":`) || !p.uint(&m.seq) || !p.lit(`,"from":`) || !p.str() || !p.lit(`,"text":`) || !p.str() {
			return dst, false
		}
		var ct uint64
		if p.lit(`,"client_time":`) && (!p.uint(&ct) || ct > 1<<63-1) {
			return dst, false
		}
		var st uint64
		if !p.lit(`,"server_time":`) || !p.uint(&st) || st > 1<<63-1 || !p.lit(`}`) {
			return dst, false
		}
		m.ct = int64(ct)
		dst = append(dst, m)
		if p.lit(`]}`) {
			return dst, p.i == len(p.b)
		}
		if !p.lit(`,`) {
			return dst, false
		}
	}
}

// chatScanner is scanChat's cursor over a frame.
type chatScanner struct {
	b []byte
	i int
}

// lit consumes s if the frame continues with it.
func (p *chatScanner) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// str consumes a JSON string: no raw control characters, only JSON's
// escapes (encoding/json writes \", \\, \n, \r, \t, \u00XX, \u2028…).
func (p *chatScanner) str() bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	for i := p.i + 1; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			p.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(p.b) {
				return false
			}
			switch p.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p.b) {
					return false
				}
				for _, h := range p.b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

// uint consumes a JSON number that is a uint64 (no sign, fraction,
// exponent or leading zero) into v.
func (p *chatScanner) uint(v *uint64) bool {
	start := p.i
	var n uint64
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if n > (1<<64-1-d)/10 {
			return false // overflow
		}
		n = n*10 + d
		p.i++
	}
	switch {
	case p.i == start, p.i-start > 1 && p.b[start] == '0':
		return false
	case p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E'):
		return false
	}
	*v = n
	return true
}

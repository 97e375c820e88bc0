package inspect

import "testing"

func TestShortFunc(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"github.com/livectl/livectl/internal/inspect.(*Client).Fetch", "inspect.(*Client).Fetch"},
		// A major version names no package: keep the element before it.
		// Two rows read "v4.(*UDPMuxDefault).GetConn.func1" and could not
		// be told apart from another module's v4.
		{"github.com/pion/ice/v4.(*UDPMuxDefault).GetConn.func1", "ice/v4.(*UDPMuxDefault).GetConn.func1"},
		{"github.com/pion/webrtc/v4.(*PeerConnection).Close", "webrtc/v4.(*PeerConnection).Close"},
		{"gopkg.in/yaml.v3.(*parser).parse", "yaml.v3.(*parser).parse"},
		{"example.com/vendor/v2x.Run", "v2x.Run"},
		{"runtime.gopark", "runtime.gopark"},
		{"main.main", "main.main"},
		{"example.com/a/b.F[...]", "b.F[...]"},
		{"example.com/a/b.G[example.com/x/y.T]", "b.G[example.com/x/y.T]"},
	} {
		if got := ShortFunc(tc.in); got != tc.want {
			t.Errorf("ShortFunc(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

package sfu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/server"
)

// recvOffer is a real browser-like WHEP offer (recvonly audio and video).
func recvOffer(t testing.TB) string {
	return offerOf(t, webrtc.RTPTransceiverDirectionRecvonly)
}

// sendOffer is a real publisher-like offer (sendonly audio and video).
func sendOffer(t testing.TB) string {
	return offerOf(t, webrtc.RTPTransceiverDirectionSendonly)
}

func offerOf(t testing.TB, dir webrtc.RTPTransceiverDirection) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// noCommonCodecOffer is a well-formed offer in codecs the relay does not
// forward (VP9, PCMU).
const noCommonCodecOffer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 98\r\na=mid:0\r\na=setup:actpass\r\na=sendrecv\r\na=rtpmap:98 VP9/90000\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=setup:actpass\r\na=sendrecv\r\na=rtpmap:0 PCMU/8000\r\n"

// manySectionsOffer appends n recvonly Opus sections to offer.
func manySectionsOffer(offer string, n int) string {
	var b strings.Builder
	b.WriteString(offer)
	for i := range n {
		fmt.Fprintf(&b, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:x%d\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n", i)
	}
	return b.String()
}

type httpCase struct {
	name        string
	method      string
	path        string // "{loc}" is replaced by a live session's Location
	contentType string
	header      map[string]string
	body        string
	status      int
	code        string // the problem document's code, if any
}

func doCase(t *testing.T, base string, tc httpCase, loc string) *http.Response {
	t.Helper()
	path := strings.ReplaceAll(tc.path, "{loc}", loc)
	req, err := http.NewRequest(tc.method, base+path, strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if tc.contentType != "" {
		req.Header.Set("Content-Type", tc.contentType)
	}
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != tc.status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d: %s", tc.method, path, resp.StatusCode, tc.status, b)
	}
	if tc.code != "" {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("error content type %q, want application/problem+json", ct)
		}
		var p struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatalf("problem document: %v", err)
		}
		if p.Code != tc.code || p.Status != tc.status || p.Detail == "" {
			t.Errorf("problem %+v, want code %s status %d and a detail", p, tc.code, tc.status)
		}
	}
	return resp
}

func TestWHIPWHEPHTTP(t *testing.T) {
	ts := newMediaServer(t, server.Config{}, Config{})
	offer := recvOffer(t)
	// A live WHEP session for the PATCH/DELETE cases.
	resp := doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whep/live", contentType: "application/sdp", body: offer, status: 201}, "")
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whep/live/") || resp.Header.Get("Content-Type") != "application/sdp" || resp.Header.Get("ETag") == "" {
		t.Fatalf("created session headers: %v", resp.Header)
	}
	answer, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(answer), "a=candidate:") || !strings.Contains(string(answer), "a=sendonly") {
		t.Errorf("answer lacks candidates or sendonly media:\n%s", answer)
	}
	frag := "a=ice-ufrag:abcd\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
	tests := []httpCase{
		{"WHIP garbage SDP", "POST", "/whip/r", "application/sdp", nil, "hello", 400, "bad_sdp"},
		{"WHEP garbage SDP", "POST", "/whep/r", "application/sdp", nil, "v=0\r\n", 400, "bad_sdp"},
		// 700 media sections were accepted, each session holding ~3 MiB
		// until it timed out (issue 15); no common codec got a 201 with
		// every section rejected.
		{"WHEP too many media sections", "POST", "/whep/r", "application/sdp", nil, manySectionsOffer(offer, 500), 400, "bad_sdp"},
		{"WHEP no common codec", "POST", "/whep/r", "application/sdp", nil, noCommonCodecOffer, 400, "bad_sdp"},
		{"WHIP wrong content type", "POST", "/whip/r", "application/json", nil, `{"sdp":"x"}`, 415, "bad_message"},
		{"WHEP no content type", "POST", "/whep/r", "", nil, offer, 415, "bad_message"},
		{"WHIP body too large", "POST", "/whip/r", "application/sdp", nil, strings.Repeat("a", maxSDPBody+1), 413, "message_too_large"},
		{"room name too long", "POST", "/whip/" + strings.Repeat("r", 200), "application/sdp", nil, offer, 400, "bad_message"},
		// Not UTF-8: it was accepted and, as a metric label, made /metrics
		// fail (500) on both listeners while the session lived.
		{"room name not UTF-8", "POST", "/whip/%FF", "application/sdp", nil, offer, 400, "bad_message"},
		// ".." was accepted and its Location (/whip/../PU_…) was resolved
		// away by clients: the session could not be deleted.
		{"room name ..", "POST", "/whip/%2e%2e", "application/sdp", nil, offer, 400, "bad_message"},
		{"room name with a control character", "POST", "/whep/a%0Ab", "application/sdp", nil, offer, 400, "bad_message"},
		{"DELETE unknown session", "DELETE", "/whip/r/PU_nope", "", nil, "", 404, "bad_message"},
		{"PATCH unknown session", "PATCH", "/whep/r/SU_nope", "application/trickle-ice-sdpfrag", nil, frag, 404, "bad_message"},
		{"PATCH wrong content type", "PATCH", "{loc}", "application/sdp", nil, frag, 415, "bad_message"},
		{"PATCH session in another room", "PATCH", strings.Replace(loc, "/live/", "/other/", 1), "application/trickle-ice-sdpfrag", nil, frag, 404, "bad_message"},
		{"PATCH ICE restart unsupported", "PATCH", "{loc}", "application/trickle-ice-sdpfrag", map[string]string{"If-Match": "*"}, frag, 422, "unsupported"},
		{"PATCH stale ETag", "PATCH", "{loc}", "application/trickle-ice-sdpfrag", map[string]string{"If-Match": `"old"`}, frag, 412, "bad_message"},
		{"PATCH bad fragment", "PATCH", "{loc}", "application/trickle-ice-sdpfrag", nil, "garbage line", 400, "bad_sdp"},
		{"PATCH body too large", "PATCH", "{loc}", "application/trickle-ice-sdpfrag", nil, frag + strings.Repeat("a=x\r\n", maxSDPBody/5), 413, "message_too_large"},
		{"PATCH trickle", "PATCH", "{loc}", "application/trickle-ice-sdpfrag", nil, frag, 204, ""},
		{"DELETE session", "DELETE", "{loc}", "", nil, "", 200, ""},
		{"DELETE again", "DELETE", "{loc}", "", nil, "", 404, "bad_message"},
		{"OPTIONS", "OPTIONS", "/whip/r", "", nil, "", 204, ""},
		{"OPTIONS on a session", "OPTIONS", "{loc}", "", nil, "", 204, ""},
		{"foreign origin refused", "POST", "/whep/r", "application/sdp", map[string]string{"Origin": "https://evil.example"}, offer, 403, "forbidden"},
		{"GET demo page", "GET", "/", "", nil, "", 200, ""},
		{"GET demo script", "GET", "/web/app.js", "", nil, "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { doCase(t, ts.http.URL, tc, loc) })
	}
}

func TestWHIPAuthAndDrain(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ts := newMediaServer(t, server.Config{AuthSecret: secret}, Config{})
	mint := func(g auth.Grant) string {
		tok, err := auth.Mint(secret, g, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	viewer := mint(auth.Grant{Room: "r", Identity: "v", Subscribe: true})
	offer := recvOffer(t)
	tests := []httpCase{
		{"no token", "POST", "/whep/r", "application/sdp", nil, offer, 401, "unauthorized"},
		{"not a bearer token", "POST", "/whep/r", "application/sdp", map[string]string{"Authorization": "Basic eDp5"}, offer, 401, "unauthorized"},
		{"garbage token", "POST", "/whep/r", "application/sdp", map[string]string{"Authorization": "Bearer x.y.z"}, offer, 401, "unauthorized"},
		{"token for another room", "POST", "/whep/other", "application/sdp", map[string]string{"Authorization": viewer}, offer, 403, "forbidden"},
		{"subscribe-only token publishing", "POST", "/whip/r", "application/sdp", map[string]string{"Authorization": viewer}, offer, 403, "forbidden"},
		{"valid viewer token", "POST", "/whep/r", "application/sdp", map[string]string{"Authorization": viewer}, offer, 201, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { doCase(t, ts.http.URL, tc, "") })
	}
	// Only the token that created a session (its grant and identity) may
	// change or end it.
	resp := doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whep/r", contentType: "application/sdp", header: map[string]string{"Authorization": viewer}, body: offer, status: 201}, "")
	loc := resp.Header.Get("Location")
	other := mint(auth.Grant{Room: "r", Identity: "w", Subscribe: true})
	publisher := mint(auth.Grant{Room: "r", Identity: "v", Publish: true})
	for _, tc := range []httpCase{
		{"another viewer ends it", "DELETE", "{loc}", "", map[string]string{"Authorization": other}, "", 403, "forbidden"},
		{"a publish-only token ends it", "DELETE", "{loc}", "", map[string]string{"Authorization": publisher}, "", 403, "forbidden"},
		{"another viewer trickles", "PATCH", "{loc}", "application/trickle-ice-sdpfrag", map[string]string{"Authorization": other}, "a=mid:0\r\n", 403, "forbidden"},
		{"its viewer ends it", "DELETE", "{loc}", "", map[string]string{"Authorization": viewer}, "", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { doCase(t, ts.http.URL, tc, loc) })
	}
	t.Run("publish while draining", func(t *testing.T) {
		ts.StartDrain(time.Now().Add(time.Minute))
		resp := doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whip/r", contentType: "application/sdp",
			header: map[string]string{"Authorization": mint(auth.Grant{Room: "r", Identity: "p", Publish: true})},
			body:   offer, status: 503, code: "draining"}, "")
		if resp.Header.Get("Retry-After") == "" {
			t.Error("503 while draining has no Retry-After")
		}
	})
}

// FuzzParseSDPFrag feeds arbitrary PATCH bodies to the trickle fragment
// parser: it must not panic, and every candidate it returns is a candidate line.
func FuzzParseSDPFrag(f *testing.F) {
	f.Add("a=ice-ufrag:abcd\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n")
	f.Add("a=ice-ufrag:x\na=ice-pwd:y\nm=audio 9 UDP/TLS/RTP/SAVPF 0\na=mid:0\na=candidate:2 1 tcp 1 ::1 9 typ host tcptype active\na=end-of-candidates\n")
	f.Add("garbage")
	f.Add("")
	f.Fuzz(func(t *testing.T, frag string) {
		cands, err := parseSDPFrag(frag)
		if err != nil {
			return
		}
		for _, c := range cands {
			if !strings.HasPrefix(c.Candidate, "candidate:") {
				t.Fatalf("returned %q, not a candidate", c.Candidate)
			}
		}
	})
}

func TestWHIPCORS(t *testing.T) {
	ts := newMediaServer(t, server.Config{AllowedOrigins: []string{"https://app.example"}}, Config{})
	req, _ := http.NewRequest("OPTIONS", ts.http.URL+"/whip/r", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp = doCase(t, ts.http.URL, httpCase{method: "POST", path: "/whep/r", contentType: "application/sdp",
		header: map[string]string{"Origin": "https://app.example"}, body: recvOffer(t), status: 201}, "")
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Errorf("Location not exposed to the page: %v", resp.Header)
	}
}

// TestSlowWHIPBodyIsCut: a WHIP body sent a byte at a time held a
// connection (and a file descriptor) for ever; it is now cut after
// the server's BodyReadTimeout with a 400 that says why.
func TestSlowWHIPBodyIsCut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr, _ := serving(t, server.Config{Limits: server.Limits{BodyReadTimeout: 300 * time.Millisecond}}, ctx, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /whip/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\n\r\nv=0\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := io.ReadAll(c)
	if !strings.Contains(string(resp), "400") || !strings.Contains(string(resp), "not sent within") {
		t.Errorf("slow body: %q (err %v), want a 400 saying the body was not sent in time", resp, err)
	}
}

package sfu

import (
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/relay"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
)

// WHIP (RFC 9725) and WHEP on the relay, and the demo page.
//
//	POST   /whip/{room}       application/sdp offer → 201, answer, Location
//	PATCH  /whip/{room}/{id}  application/trickle-ice-sdpfrag → 204
//	DELETE /whip/{room}/{id}  → 200
//
// and the same under /whep/. Errors are application/problem+json
// (RFC 9457) with the protocol's error code in "code".

// The demo page publishes with WHIP and watches with WHEP, so it is served
// with them.
//
//go:embed web
var webFS embed.FS

// Mount wires the SFU into srv, whose MediaPlane it must be: WHIP and
// WHEP, the demo page at GET / and /web/, and the per-room series on
// /metrics. Call it once, before serving.
func (s *SFU) Mount(srv *server.Server) error {
	if srv.Media() != server.MediaPlane(s) {
		return errors.New("sfu: Mount on a server built without this SFU as its MediaPlane")
	}
	if err := srv.RegisterCollector(&roomCollector{sfu: s}); err != nil {
		return fmt.Errorf("registering the per-room metrics: %w", err)
	}
	h := &whipHandler{srv: srv, sfu: s}
	for _, kind := range []string{"whip", "whep"} {
		srv.Handle("POST /"+kind+"/{room}", h.cors(h.create(kind)))
		srv.Handle("PATCH /"+kind+"/{room}/{id}", h.cors(h.patch(kind)))
		srv.Handle("DELETE /"+kind+"/{room}/{id}", h.cors(h.remove(kind)))
		srv.Handle("OPTIONS /"+kind+"/{room}", h.cors(h.options("OPTIONS, POST")))
		srv.Handle("OPTIONS /"+kind+"/{room}/{id}", h.cors(h.options("OPTIONS, PATCH, DELETE")))
	}
	web, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(web)
	srv.Handle("GET /{$}", files)
	srv.Handle("GET /web/", http.StripPrefix("/web", files))
	return nil
}

// maxSDPBody bounds a WHIP/WHEP request body.
const maxSDPBody = 64 << 10

// resource is one WHIP or WHEP session. owner is the identity of the
// token that created it ("" with auth off or an identity-less token).
// release frees its place in the server's limits.
type resource struct {
	id, kind, room, owner string
	pub                   *relay.Publisher
	sub                   *relay.Subscriber
	release               func()
	logEnd                func() // logs the session's end (startMediaLog)
}

func (r *resource) close() {
	if r.pub != nil {
		r.pub.Close()
	}
	if r.sub != nil {
		r.sub.Close()
	}
}

// afterClose runs f once the session has closed (relay's AfterClose).
func (r *resource) afterClose(f func()) {
	if r.pub != nil {
		r.pub.AfterClose(f)
		return
	}
	r.sub.AfterClose(f)
}

// resources indexes live WHIP/WHEP sessions by id; each is forgotten, and
// its place in the server's limits (server.ReserveSession) freed, when its
// peer connection ends, however it ends.
type resources struct {
	mu sync.Mutex
	m  map[string]*resource
	wg sync.WaitGroup
}

// add indexes r, whose place was reserved.
func (rs *resources) add(r *resource) {
	rs.mu.Lock()
	rs.m[r.id] = r
	rs.mu.Unlock()
	rs.wg.Add(1)
	r.afterClose(func() {
		defer rs.wg.Done()
		rs.mu.Lock()
		delete(rs.m, r.id)
		rs.mu.Unlock()
		r.release()
		if r.logEnd != nil {
			r.logEnd()
		}
	})
}

func (rs *resources) get(kind, room, id string) *resource {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.m[id]
	if r == nil || r.kind != kind || r.room != room {
		return nil
	}
	return r
}

type whipHandler struct {
	srv *server.Server
	sfu *SFU
}

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail,
	})
}

// authorize checks the bearer token for room; with auth off it allows all.
func (h *whipHandler) authorize(w http.ResponseWriter, r *http.Request, room string) (grantOK bool, identity string, publish, subscribe bool) {
	tok := ""
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, rest, _ := strings.Cut(a, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			problem(w, http.StatusUnauthorized, signal.CodeUnauthorized, "Authorization must be a Bearer token")
			return false, "", false, false
		}
		tok = strings.TrimSpace(rest)
	}
	g, err := h.srv.Authorize(r.RemoteAddr, tok, room, "")
	if err != nil {
		status, code := http.StatusUnauthorized, signal.CodeUnauthorized
		var pe *signal.Error
		if errors.As(err, &pe) {
			code = pe.Code
			if pe.Code == signal.CodeForbidden {
				status = http.StatusForbidden
			}
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="livectl"`)
		}
		problem(w, status, code, err.Error())
		return false, "", false, false
	}
	return true, g.Identity, g.Publish, g.Subscribe
}

func (h *whipHandler) options(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		w.Header().Set("Accept-Post", "application/sdp")
		w.Header().Set("Access-Control-Allow-Methods", allow)
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

// cors lets browser pages on allowed origins (the server's origin policy)
// use WHIP/WHEP, and refuses other origins with 403.
func (h *whipHandler) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			if err := h.srv.CheckOrigin(r); err != nil {
				problem(w, http.StatusForbidden, signal.CodeForbidden, err.Error())
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "Location, ETag, Accept-Patch, Link")
			w.Header().Add("Vary", "Origin")
		}
		next.ServeHTTP(w, r)
	})
}

func (h *whipHandler) create(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		if err := signal.CheckName("room name", room); err != nil {
			problem(w, http.StatusBadRequest, signal.CodeBadMessage, err.Error())
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/sdp" {
			problem(w, http.StatusUnsupportedMediaType, signal.CodeBadMessage, "the body must be an SDP offer with Content-Type: application/sdp")
			return
		}
		if h.srv.Draining() {
			w.Header().Set("Retry-After", "5")
			problem(w, http.StatusServiceUnavailable, signal.CodeDraining, "the server is draining: retry on another instance")
			return
		}
		s := h.sfu
		var identity string
		ng, node := (*auth.Grant)(nil), false
		if kind == "whep" {
			ng, node = s.nodeGrant(r, room)
		}
		if node {
			identity = ng.Identity
		} else {
			ok, id, canPub, canSub := h.authorize(w, r, room)
			if !ok {
				return
			}
			if kind == "whip" && !canPub {
				problem(w, http.StatusForbidden, signal.CodeForbidden, "token does not grant publish")
				return
			}
			if kind == "whep" && !canSub {
				problem(w, http.StatusForbidden, signal.CodeForbidden, "token does not grant subscribe")
				return
			}
			identity = id
		}
		if kind == "whip" {
			// RFC 9725 §4.5 lets a WHIP endpoint redirect the POST: the
			// publisher goes to the room's origin, no media detour.
			info, err := s.admitPublisher(r.Context(), room)
			var oe *OriginError
			switch {
			case errors.As(err, &oe):
				// 307, not 301/302: the client must POST the same offer.
				w.Header().Set("Location", info.WHIPURL)
				w.WriteHeader(http.StatusTemporaryRedirect)
				return
			case err != nil:
				w.Header().Set("Retry-After", "2")
				problem(w, http.StatusServiceUnavailable, signal.CodeInternal, err.Error())
				return
			}
		}
		layers, err := layerQuery(r.URL.Query())
		if err != nil {
			problem(w, http.StatusBadRequest, signal.CodeBadMessage, err.Error())
			return
		}
		body, err := h.readBody(r)
		if err != nil {
			problem(w, http.StatusBadRequest, signal.CodeBadMessage, "reading the SDP offer: "+err.Error())
			return
		}
		if len(body) > maxSDPBody {
			problem(w, http.StatusRequestEntityTooLarge, signal.CodeMessageTooLarge, fmt.Sprintf("SDP offer larger than %d bytes", maxSDPBody))
			return
		}
		release := func() {}
		if !node {
			release, err = h.srv.ReserveSession(room)
		}
		if err != nil {
			code := signal.CodeServerFull
			var le *server.LimitError
			if errors.As(err, &le) {
				code = le.Code()
			}
			w.Header().Set("Retry-After", "5")
			problem(w, http.StatusServiceUnavailable, code, err.Error())
			return
		}
		res := &resource{kind: kind, room: room, owner: identity, release: release}
		var answer string
		if identity == "" {
			identity = kind + "-" + randomSuffix()
		}
		// The session's end releases its place in the limits and what it
		// holds in the cluster: a publisher's claim to be the origin, a
		// viewer's share of the room's upstream (held before the
		// subscription, so the upstream comes up beside the viewer's ICE).
		held := func() {}
		if kind == "whip" {
			held = s.published(room)
		} else if !node {
			held = s.cascade.hold(room)
		}
		res.release = func() { release(); held() }
		if kind == "whip" {
			res.pub, answer, err = s.relay.Publish(room, identity, string(body))
			if err == nil {
				res.id = res.pub.ID()
				res.logEnd = s.startMediaLog("publish", kind, room, identity, r.RemoteAddr, res.pub.Counters)
			}
		} else {
			res.sub, answer, err = s.relay.SubscribeOfferLayers(room, identity, string(body), layers)
			if err == nil {
				res.id = res.sub.ID()
				res.logEnd = s.startMediaLog("subscribe", kind, room, identity, r.RemoteAddr, res.sub.Counters)
			}
		}
		if err != nil {
			res.release()
			switch {
			case errors.Is(err, relay.ErrBadSDP):
				problem(w, http.StatusBadRequest, signal.CodeBadSDP, err.Error())
			case errors.Is(err, relay.ErrClosed):
				problem(w, http.StatusServiceUnavailable, signal.CodeDraining, "the media plane is shutting down")
			case errors.Is(err, relay.ErrBusy):
				w.Header().Set("Retry-After", "2")
				problem(w, http.StatusServiceUnavailable, signal.CodeServerFull, err.Error()+", retry in a few seconds")
			default:
				h.srv.Logger().Warn("creating "+kind+" session", "room", room, "err", err)
				problem(w, http.StatusInternalServerError, signal.CodeInternal, err.Error())
			}
			return
		}
		s.res.add(res)
		loc := "/" + kind + "/" + url.PathEscape(room) + "/" + url.PathEscape(res.id)
		w.Header().Set("Location", loc)
		w.Header().Set("ETag", `"`+res.id+`"`)
		w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
		w.Header().Set("Content-Type", "application/sdp")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	})
}

// layerQuery reads a WHEP viewer's cap on simulcast layers: ?layer=q|h|f
// and/or ?max_width=<pixels>, as /ws set_quality takes them.
func layerQuery(q url.Values) (relay.LayerRequest, error) {
	m := signal.Message{Type: signal.TypeSetQuality, Layer: q.Get("layer")}
	if v := q.Get("max_width"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return relay.LayerRequest{}, fmt.Errorf("max_width %q is not a number of pixels", v)
		}
		m.MaxWidth = n
	}
	if err := m.Validate(); err != nil {
		var se *signal.Error
		if errors.As(err, &se) {
			return relay.LayerRequest{}, errors.New(se.Reason)
		}
		return relay.LayerRequest{}, err
	}
	return relay.LayerRequest{RID: m.Layer, MaxWidth: m.MaxWidth}, nil
}

// lookup finds the session named by the URL, checking auth, or writes the
// error. With auth on, only a token that could have created the session
// may change or end it: the grant for its kind (publish for WHIP,
// subscribe for WHEP) and, when it was created with an identity, that
// identity.
func (h *whipHandler) lookup(kind string, w http.ResponseWriter, r *http.Request) *resource {
	s := h.sfu
	room := r.PathValue("room")
	if kind == "whep" {
		if g, node := s.nodeGrant(r, room); node {
			if res := s.res.get(kind, room, r.PathValue("id")); res != nil && res.owner == g.Identity {
				return res
			}
		}
	}
	ok, identity, canPub, canSub := h.authorize(w, r, room)
	if !ok {
		return nil
	}
	res := s.res.get(kind, room, r.PathValue("id"))
	if res == nil {
		problem(w, http.StatusNotFound, signal.CodeBadMessage, fmt.Sprintf("no %s session %q in room %q: it ended or never existed", strings.ToUpper(kind), r.PathValue("id"), room))
		return nil
	}
	if h.srv.AuthEnabled() {
		if (kind == "whip" && !canPub) || (kind == "whep" && !canSub) || (res.owner != "" && identity != res.owner) {
			problem(w, http.StatusForbidden, signal.CodeForbidden, fmt.Sprintf("this token may not change %s session %q: use the token that created it", strings.ToUpper(kind), res.id))
			return nil
		}
	}
	return res
}

func (h *whipHandler) remove(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := h.lookup(kind, w, r)
		if res == nil {
			return
		}
		res.close()
		w.WriteHeader(http.StatusOK)
	})
}

// patch adds trickled candidates. ICE restarts (If-Match: *) are not
// supported, which RFC 9725 §4.3 says to answer with 422.
func (h *whipHandler) patch(kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/trickle-ice-sdpfrag" {
			problem(w, http.StatusUnsupportedMediaType, signal.CodeBadMessage, "PATCH takes Content-Type: application/trickle-ice-sdpfrag")
			return
		}
		res := h.lookup(kind, w, r)
		if res == nil {
			return
		}
		switch im := r.Header.Get("If-Match"); {
		case im == "*":
			problem(w, http.StatusUnprocessableEntity, signal.CodeUnsupported, "ICE restart is not supported: start a new session")
			return
		case im != "" && im != `"`+res.id+`"`:
			problem(w, http.StatusPreconditionFailed, signal.CodeBadMessage, "If-Match does not match this session's ETag")
			return
		}
		body, err := h.readBody(r)
		if err != nil {
			problem(w, http.StatusBadRequest, signal.CodeBadMessage, "reading the SDP fragment: "+err.Error())
			return
		}
		if len(body) > maxSDPBody {
			problem(w, http.StatusRequestEntityTooLarge, signal.CodeMessageTooLarge, fmt.Sprintf("SDP fragment larger than %d bytes", maxSDPBody))
			return
		}
		cands, err := parseSDPFrag(string(body))
		if err != nil {
			problem(w, http.StatusBadRequest, signal.CodeBadSDP, err.Error())
			return
		}
		for _, c := range cands {
			if res.pub != nil {
				err = res.pub.AddICECandidate(c)
			} else {
				err = res.sub.AddICECandidate(c)
			}
			if err != nil {
				problem(w, http.StatusBadRequest, signal.CodeBadSDP, err.Error())
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// parseSDPFrag reads the candidates of a trickle-ice-sdpfrag body (RFC 8840).
func parseSDPFrag(frag string) ([]relay.Candidate, error) {
	var out []relay.Candidate
	var mid, ufrag *string
	for _, line := range strings.Split(frag, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			u := strings.TrimPrefix(line, "a=ice-ufrag:")
			ufrag = &u
		case strings.HasPrefix(line, "a=mid:"):
			m := strings.TrimPrefix(line, "a=mid:")
			mid = &m
		case strings.HasPrefix(line, "a=candidate:"):
			c := relay.Candidate{Candidate: strings.TrimPrefix(line, "a="), SDPMid: mid, UsernameFragment: ufrag}
			if mid == nil {
				zero := uint16(0)
				c.SDPMLineIndex = &zero
			}
			out = append(out, c)
		case strings.HasPrefix(line, "a="), strings.HasPrefix(line, "m="), strings.HasPrefix(line, "c="):
		default:
			return nil, fmt.Errorf("%w: unexpected line %q in the SDP fragment", relay.ErrBadSDP, truncateLine(line))
		}
	}
	return out, nil
}

// randomSuffix tells apart WHIP/WHEP clients that gave no identity; its
// alphabet (A-Z, 2-7) is valid in a name.
func randomSuffix() string { return rand.Text() }

func truncateLine(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// readBody reads up to maxSDPBody+1 bytes of r's body (within the
// server's BodyReadTimeout, which the server's guard sets).
func (h *whipHandler) readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSDPBody+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("not sent within %s", h.srv.BodyReadTimeout())
	}
	return body, err
}

package server

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/livectl/livectl/internal/relay"
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

//go:embed web
var webFS embed.FS

func init() {
	registerRoutes(func(s *Server) {
		h := &whipHandler{srv: s}
		for _, kind := range []string{"whip", "whep"} {
			s.Handle("POST /"+kind+"/{room}", h.cors(h.create(kind)))
			s.Handle("PATCH /"+kind+"/{room}/{id}", h.cors(h.patch(kind)))
			s.Handle("DELETE /"+kind+"/{room}/{id}", h.cors(h.remove(kind)))
			s.Handle("OPTIONS /"+kind+"/{room}", h.cors(h.options("OPTIONS, POST")))
			s.Handle("OPTIONS /"+kind+"/{room}/{id}", h.cors(h.options("OPTIONS, PATCH, DELETE")))
		}
		web, _ := fs.Sub(webFS, "web")
		files := http.FileServerFS(web)
		s.Handle("GET /{$}", files)
		s.Handle("GET /web/", http.StripPrefix("/web", files))
	})
}

// maxSDPBody bounds a WHIP/WHEP request body.
const maxSDPBody = 64 << 10

// resource is one WHIP or WHEP session. owner is the identity of the
// token that created it ("" with auth off or an identity-less token).
type resource struct {
	id, kind, room, owner string
	pub                   *relay.Publisher
	sub                   *relay.Subscriber
}

func (r *resource) close() {
	if r.pub != nil {
		r.pub.Close()
	}
	if r.sub != nil {
		r.sub.Close()
	}
}

func (r *resource) done() <-chan struct{} {
	if r.pub != nil {
		return r.pub.Done()
	}
	return r.sub.Done()
}

// resources indexes live WHIP/WHEP sessions by id; each is forgotten when
// its peer connection ends, however it ends. It also counts them, and the
// ones being created, per room: they count towards the server's limits
// (connections, rooms, participants per room) as /ws participants do.
type resources struct {
	mu     sync.Mutex
	m      map[string]*resource
	inRoom map[string]int // live and reserved sessions per room
	total  int            // live and reserved sessions
	wg     sync.WaitGroup
}

// reserveLocked counts a session about to be created in room; the caller
// holds rs.mu. The slot is freed by release, or when the session added
// with it ends.
func (rs *resources) reserveLocked(room string) {
	rs.inRoom[room]++
	rs.total++
}

func (rs *resources) release(room string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.inRoom[room]--; rs.inRoom[room] <= 0 {
		delete(rs.inRoom, room)
	}
	rs.total--
}

// count returns the sessions live or being created.
func (rs *resources) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.total
}

// add indexes r, whose slot was reserved.
func (rs *resources) add(r *resource) {
	rs.mu.Lock()
	rs.m[r.id] = r
	rs.mu.Unlock()
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		<-r.done()
		rs.mu.Lock()
		delete(rs.m, r.id)
		rs.mu.Unlock()
		rs.release(r.room)
	}()
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

type whipHandler struct{ srv *Server }

// problem writes an RFC 9457 problem document.
func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "about:blank", "title": http.StatusText(status), "status": status, "code": code, "detail": detail,
	})
}

// sfu returns the relay-backed media plane, or writes 503.
func (h *whipHandler) sfu(w http.ResponseWriter) *sfu {
	s, ok := h.srv.Media().(*sfu)
	if !ok || s == nil {
		problem(w, http.StatusServiceUnavailable, signal.CodeUnsupported, "this server runs without the media plane: start serve with media enabled")
		return nil
	}
	return s
}

// authorize checks the bearer token for room; with auth off it allows all.
func (h *whipHandler) authorize(w http.ResponseWriter, r *http.Request, room string) (grantOK bool, identity string, publish, subscribe bool) {
	tok := ""
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, rest, _ := strings.Cut(a, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			problem(w, http.StatusUnauthorized, signal.CodeUnauthorized, "Authorization must be a Bearer token minted by `livectl token`")
			return false, "", false, false
		}
		tok = strings.TrimSpace(rest)
	}
	g, err := h.srv.Authorize(tok, room, "")
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

// cors lets browser pages on allowed origins (--allowed-origins, or any
// with --dev) use WHIP/WHEP, and refuses other origins with 403.
func (h *whipHandler) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !h.srv.originAllowed(r) {
				problem(w, http.StatusForbidden, signal.CodeForbidden, fmt.Sprintf("origin %s is not allowed: add it to --allowed-origins", origin))
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
		s := h.sfu(w)
		if s == nil {
			return
		}
		ok, identity, canPub, canSub := h.authorize(w, r, room)
		if !ok {
			return
		}
		if kind == "whip" && !canPub {
			problem(w, http.StatusForbidden, signal.CodeForbidden, "token does not grant publish: mint one with `livectl token --publish`")
			return
		}
		if kind == "whep" && !canSub {
			problem(w, http.StatusForbidden, signal.CodeForbidden, "token does not grant subscribe: mint one with `livectl token --subscribe`")
			return
		}
		body, err := readBody(w, r)
		if err != nil {
			problem(w, http.StatusBadRequest, signal.CodeBadMessage, "reading the SDP offer: "+err.Error())
			return
		}
		if len(body) > maxSDPBody {
			problem(w, http.StatusRequestEntityTooLarge, signal.CodeMessageTooLarge, fmt.Sprintf("SDP offer larger than %d bytes", maxSDPBody))
			return
		}
		if err := h.srv.reserveOutside(s, room); err != nil {
			w.Header().Set("Retry-After", "5")
			problem(w, http.StatusServiceUnavailable, err.Code, err.Reason)
			return
		}
		res := &resource{kind: kind, room: room, owner: identity}
		var answer string
		if identity == "" {
			identity = kind + "-" + randomSuffix()
		}
		if kind == "whip" {
			res.pub, answer, err = s.relay.Publish(room, identity, string(body))
			if err == nil {
				res.id = res.pub.ID()
			}
		} else {
			res.sub, answer, err = s.relay.SubscribeOffer(room, identity, string(body))
			if err == nil {
				res.id = res.sub.ID()
			}
		}
		if err != nil {
			s.res.release(room)
			switch {
			case errors.Is(err, relay.ErrBadSDP):
				problem(w, http.StatusBadRequest, signal.CodeBadSDP, err.Error())
			case errors.Is(err, relay.ErrClosed):
				problem(w, http.StatusServiceUnavailable, signal.CodeDraining, "the media plane is shutting down")
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

// reserveOutside claims a place for a WHIP/WHEP session in room within the
// server's limits, or returns the refusal (server_full, room_full). WHIP
// and WHEP sessions count as connections, participants of their room and
// their rooms as rooms, with the /ws ones. The caller releases the slot
// if the session is not created.
func (s *Server) reserveOutside(sf *sfu, room string) *signal.Error {
	conns := s.Connections()
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	sf.res.mu.Lock()
	defer sf.res.mu.Unlock()
	lim := s.cfg.Limits
	if conns+sf.res.total >= lim.MaxConns {
		return &signal.Error{Code: signal.CodeServerFull,
			Reason: fmt.Sprintf("server is at its connection limit (%d /ws connections and WHIP/WHEP sessions): retry later or raise --max-conns", lim.MaxConns)}
	}
	if err := s.reg.admitLocked(lim, &sf.res, room); err != nil {
		return err
	}
	sf.res.reserveLocked(room)
	return nil
}

// lookup finds the session named by the URL, checking auth, or writes the
// error. With auth on, only a token that could have created the session
// may change or end it: the grant for its kind (publish for WHIP,
// subscribe for WHEP) and, when it was created with an identity, that
// identity.
func (h *whipHandler) lookup(kind string, w http.ResponseWriter, r *http.Request) *resource {
	s := h.sfu(w)
	if s == nil {
		return nil
	}
	room := r.PathValue("room")
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
		body, err := readBody(w, r)
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

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func truncateLine(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// readBody reads up to maxSDPBody+1 bytes of r's body (within the
// server's bodyReadTimeout, see limitBody).
func readBody(_ http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSDPBody+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("not sent within %s", bodyReadTimeout)
	}
	return body, err
}

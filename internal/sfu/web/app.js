// livectl demo page: publish the camera with WHIP, watch a room with WHEP,
// and chat in the room over /ws (with its member count).
// Query parameters: room=NAME, token=JWT, identity=NAME (chat; default a
// random viewer-…), publish=1 and/or watch=1 start at load (the browser
// tests use these), simulcast=1 ticks "Simulcast" (publish three layers),
// layer=q|h|f caps the layer a watch() asks for (WHEP ?layer=). The chat
// joins the room at load. window.livectl exposes the state,
// including firstFrameMs: milliseconds from the start of the WHEP attempt
// to the first frame the browser rendered (requestVideoFrameCallback's
// presentationTime), and firstFrame, a promise of it for the last watch();
// notes: the text shown over each video ({pub, sub}: errors, "waiting for
// a publisher", "the camera needs HTTPS"); redirectedTo: the URL a WHIP/WHEP
// POST was last redirected to (a cluster node sends publishers to the
// room's origin), null if none was; sizes: the sizes of the frames
// rendered by the last watch(), one entry per change ({atMs: since the
// watch started, width, height}, from requestVideoFrameCallback's
// metadata), freezes: gaps over 500 ms between two rendered frames of the
// last watch() ({atMs: when the frame that ended it came, ms}), and
// simulcastLayers: the RIDs the last publish() sent.
"use strict";

const state = window.livectl = {
  publishing: false, watching: false, framesRendered: 0,
  firstFrameMs: null, watchStartedAt: null, errors: [], log: [],
  notes: { pub: "", sub: "" }, redirectedTo: null, sizes: [], freezes: [], simulcastLayers: [],
  // chat: joined over /ws; members = publishers + viewers of the room, as
  // joined, participant events and room_update tell; messages as shown.
  chat: { joined: false, publishers: 0, viewers: 0, members: 0, messages: [], lastSeq: 0 },
};
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.get("room")) $("room").value = params.get("room");
if (params.get("token")) $("token").value = params.get("token");
if (params.get("simulcast") === "1") $("simulcast").checked = true;
if (params.get("layer")) $("layer").value = params.get("layer");

// Simulcast from the camera: three encodings of one 1280x720 capture, which
// the relay orders by RID (q lowest) and chooses from per viewer. Chromium
// sends fewer layers for small inputs, hence the capture size; the bitrates
// are about those of `livectl publish --simulcast`.
const simulcastEncodings = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1500000 },
];

// log appends a line to state.log and to the page. The page scrolls once per
// animation frame: setting scrollTop after each line would force a layout of
// the whole log inside the timed path of watch().
const logEl = $("log");
let scrollPending = false;
function log(msg) {
  const line = new Date().toISOString().slice(11, 23) + " +" + performance.now().toFixed(0) + "ms " + msg;
  state.log.push(line);
  if (state.log.length > 1000) state.log.splice(0, 500);
  logEl.append(line + "\n");
  while (logEl.childNodes.length > 500) logEl.firstChild.remove();
  if (!scrollPending) {
    scrollPending = true;
    requestAnimationFrame(() => { scrollPending = false; logEl.scrollTop = logEl.scrollHeight; });
  }
}
// note shows text over a session's video ("pub": the camera, "sub": the
// room), as an error or a notice; "" clears it.
function note(name, text, isError) {
  const el = $(name === "pub" ? "localnote" : "remotenote");
  state.notes[name] = text;
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}
function fail(what, err, name) {
  const msg = what + ": " + (err && err.message ? err.message : err);
  state.errors.push(msg);
  log("ERROR " + msg);
  if (name) note(name, msg, true);
}

// Browsers give pages the camera only in a secure context: https:// or
// localhost. Elsewhere navigator.mediaDevices is missing, and publishing
// would fail with a TypeError that says nothing useful.
const cameraNeedsHTTPS = !window.isSecureContext || !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
const httpsAdvice = "The camera needs HTTPS: open this page over https:// (serve --tls-cert/--tls-key) or on localhost. Watching works as it is.";
if (cameraNeedsHTTPS) note("pub", httpsAdvice, true);

// A WHEP session to an empty room connects and then receives nothing: say
// so instead of leaving a black, "loading" video.
const emptyRoomAfterMs = 2000;

// authHeaders carries the page's token, if any, on every WHIP/WHEP request
// (POST, PATCH and DELETE alike: the server lets only the creating token
// change or end a session).
function authHeaders(extra) {
  const h = Object.assign({}, extra);
  const token = $("token").value.trim();
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

// trickleFragment is an RFC 8840 SDP fragment: the ICE credentials, then
// per media section its mid and candidates (lines: "candidate:…" or
// "end-of-candidates").
function trickleFragment(sdp, byMid) {
  const cred = (name) => (sdp.match(new RegExp("^a=" + name + ":(.*)$", "m")) || [, ""])[1].trim();
  let frag = "a=ice-ufrag:" + cred("ice-ufrag") + "\r\na=ice-pwd:" + cred("ice-pwd") + "\r\n";
  for (const [mid, lines] of byMid) {
    frag += "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:" + mid + "\r\n" + lines.map((l) => "a=" + l + "\r\n").join("");
  }
  return frag;
}

// POSTs the offer to a WHIP/WHEP endpoint at once, without waiting for ICE
// gathering: the relay's answer carries its candidates, and the browser's
// own follow by trickle (PATCH with an SDP fragment and If-Match, RFC 9725
// §4.3.1) — or are learnt by the relay from the browser's connectivity
// checks. alive() says whether the caller still wants the session: one
// stopped or superseded while the POST was in flight is deleted at once.
// Returns the session's Location, or null when it was not wanted.
async function exchange(kind, pc, alive, query) {
  const pending = [];
  let location = null, etag = null;
  const trickle = async (items) => {
    if (!items.length || !alive()) return;
    const byMid = new Map();
    for (const it of items) {
      const mid = it.mid != null ? it.mid : "0";
      if (!byMid.has(mid)) byMid.set(mid, []);
      byMid.get(mid).push(it.line);
    }
    const headers = authHeaders({ "Content-Type": "application/trickle-ice-sdpfrag" });
    if (etag) headers["If-Match"] = etag;
    try {
      const r = await fetch(location, { method: "PATCH", headers, body: trickleFragment(pc.localDescription.sdp, byMid) });
      if (!r.ok) log(kind + ": trickle refused (" + r.status + ")");
    } catch (e) { log(kind + ": trickle failed: " + e); }
  };
  pc.addEventListener("icecandidate", (ev) => {
    // A null candidate (or an empty one) ends gathering: end-of-candidates.
    const it = ev.candidate && ev.candidate.candidate
      ? { mid: ev.candidate.sdpMid, line: ev.candidate.candidate }
      : { mid: null, line: "end-of-candidates" };
    if (location) trickle([it]); else pending.push(it);
  });
  // setLocalDescription() creates the offer itself: one round trip into
  // the browser's WebRTC thread instead of two (createOffer, then set).
  await pc.setLocalDescription();
  log(kind + ": offer ready");
  const room = encodeURIComponent($("room").value.trim());
  const post = () => ({ method: "POST", headers: authHeaders({ "Content-Type": "application/sdp" }), body: pc.localDescription.sdp });
  let resp = await fetch("/" + kind + "/" + room + (query || ""), post());
  if (resp.redirected) {
    // A cluster node that is not the room's origin answers a WHIP POST
    // with 307 and the origin's WHIP URL; fetch follows it with the same
    // offer. Across origins the browser drops Authorization on the way:
    // a 401 there is asked again at the URL redirected to, with the token.
    log(kind + ": redirected to " + resp.url);
    state.redirectedTo = resp.url;
    if (resp.status === 401 && $("token").value.trim()) resp = await fetch(resp.url, post());
  }
  if (resp.status !== 201) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail || detail; } catch (e) {}
    throw new Error(kind.toUpperCase() + " refused (" + resp.status + "): " + detail);
  }
  // Location is relative to the URL that answered: after a redirect, the
  // origin node's, not this page's.
  location = new URL(resp.headers.get("Location"), resp.url).href;
  etag = resp.headers.get("ETag");
  const answer = await resp.text();
  if (!alive()) {
    deleteSession(location);
    return null;
  }
  log(kind + ": answer received");
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  trickle(pending.splice(0));
  return location;
}

// deleteSession ends a WHIP/WHEP session on the server; keepalive lets the
// request outlive the page (stop on pagehide).
function deleteSession(location) {
  return fetch(location, { method: "DELETE", keepalive: true, headers: authHeaders() }).catch(() => {});
}

const sessions = {};
// gens counts the starts and stops of each session ("pub", "sub"): a
// publish() or watch() whose generation has moved on was stopped or
// superseded while it waited (camera prompt, POST) and gives up.
const gens = { pub: 0, sub: 0 };

// max-bundle: one transport for audio and video from the start, so the
// browser gathers (and trickles) one set of candidates, not one per section.
const newPeerConnection = () => new RTCPeerConnection({ bundlePolicy: "max-bundle" });

async function stopSession(name) {
  gens[name]++;
  if (name === "pub") state.publishing = false; else state.watching = false;
  const s = sessions[name];
  if (!s) return;
  delete sessions[name];
  s.pc.close();
  if (s.stream) s.stream.getTracks().forEach((t) => t.stop());
  if (s.location) await deleteSession(s.location);
}

// watchConnection reports a peer connection that fails (ICE or DTLS) as an
// error, so that a test waiting for frames learns why at once.
function watchConnection(what, name, pc, alive, onFailed) {
  pc.addEventListener("connectionstatechange", () => {
    if (!alive()) return;
    log(what + ": " + pc.connectionState);
    if (pc.connectionState === "failed") {
      const err = new Error("connection failed (ICE or DTLS): is UDP to the server's --udp-port blocked?");
      fail(what, err, name);
      if (onFailed) onFailed(err);
    }
  });
}

async function publish() {
  await stopSession("pub");
  const gen = gens.pub;
  const alive = () => gen === gens.pub;
  let stream = null, pc = null;
  if (cameraNeedsHTTPS) {
    fail("publish", new Error(httpsAdvice), "pub");
    return;
  }
  note("pub", "");
  try {
    const simulcast = $("simulcast").checked;
    const size = simulcast ? { width: 1280, height: 720 } : { width: 640, height: 360 };
    stream = await navigator.mediaDevices.getUserMedia({ video: size, audio: true });
    if (!alive()) { stream.getTracks().forEach((t) => t.stop()); return; }
    $("local").srcObject = stream;
    pc = newPeerConnection();
    for (const track of stream.getTracks()) {
      const init = { direction: "sendonly", streams: [stream] };
      // The offer then carries a=rid:q/h/f send and a=simulcast:send q;h;f.
      if (simulcast && track.kind === "video") init.sendEncodings = simulcastEncodings;
      pc.addTransceiver(track, init);
    }
    state.simulcastLayers = simulcast ? simulcastEncodings.map((e) => e.rid) : [];
    sessions.pub = { pc, stream };
    watchConnection("publish", "pub", pc, alive);
    pc.addEventListener("connectionstatechange", () => {
      if (!alive()) return;
      $("localcap").textContent = "camera: " + pc.connectionState;
      state.publishing = pc.connectionState === "connected";
    });
    const location = await exchange("whip", pc, alive);
    if (!location) return;
    sessions.pub.location = location;
    log("publishing to room " + $("room").value + " (" + location + ")");
  } catch (e) {
    if (!alive()) return; // stopped meanwhile: not an error
    fail("publish", e, "pub");
    stopSession("pub"); // no camera or peer connection left running
    if (stream && !pc) stream.getTracks().forEach((t) => t.stop());
  }
}

async function watch() {
  // state.firstFrame settles with this attempt: firstFrameMs, or its error.
  // Tests await it instead of polling the page while it works.
  let settle;
  state.firstFrame = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  state.firstFrame.catch(() => {}); // nobody may be waiting
  await stopSession("sub");
  const gen = gens.sub;
  // A frame callback chain or event of an earlier watch() must neither
  // count frames nor set firstFrameMs for this one (the video element
  // outlives the peer connection).
  const alive = () => gen === gens.sub;
  state.framesRendered = 0;
  state.firstFrameMs = null;
  state.sizes = [];
  state.freezes = [];
  let lastFrameAt = null;
  note("sub", "");
  const started = performance.now();
  state.watchStartedAt = started;
  log("watch: starting");
  try {
    const pc = newPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const video = $("remote");
    const stream = new MediaStream();
    video.srcObject = stream;
    pc.ontrack = (ev) => {
      stream.addTrack(ev.track);
      log("watch: got " + ev.track.kind + " track");
    };
    const onFrame = (_now, md) => {
      if (!alive()) return; // superseded: end this chain
      state.framesRendered++;
      // presentationTime: when the frame went to the compositor. The
      // callback itself runs at the next animation frame, up to a frame
      // interval (16.7 ms at 60 Hz) later.
      const at = (md && md.presentationTime ? md.presentationTime : performance.now()) - started;
      if (lastFrameAt !== null && at - lastFrameAt > 500) {
        state.freezes.push({ atMs: at, ms: at - lastFrameAt });
        if (state.freezes.length > 200) state.freezes.splice(0, 100);
      }
      lastFrameAt = at;
      // A simulcast layer switch shows as a change of size.
      const w = md && md.width ? md.width : video.videoWidth, h = md && md.height ? md.height : video.videoHeight;
      const last = state.sizes[state.sizes.length - 1];
      if (!last || last.width !== w || last.height !== h) {
        state.sizes.push({ atMs: at, width: w, height: h });
        if (state.sizes.length > 200) state.sizes.splice(0, 100);
        log("watch: frames of " + w + "x" + h);
      }
      if (state.firstFrameMs === null) {
        state.firstFrameMs = at;
        log("first frame rendered after " + state.firstFrameMs.toFixed(0) + " ms");
        note("sub", "");
        settle.resolve(state.firstFrameMs);
      }
      $("remotecap").textContent = "room: " + state.framesRendered + " frames, first after " +
        state.firstFrameMs.toFixed(0) + " ms, " + video.videoWidth + "x" + video.videoHeight;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    sessions.sub = { pc };
    watchConnection("watch", "sub", pc, alive, (err) => settle.reject(err));
    pc.addEventListener("connectionstatechange", () => {
      if (!alive()) return;
      state.watching = pc.connectionState === "connected";
      if (!state.watching) return;
      $("remotecap").textContent = "room: connected";
      setTimeout(() => {
        if (alive() && state.framesRendered === 0 && pc.connectionState === "connected") {
          note("sub", "Room " + $("room").value + " has no video yet: waiting for a publisher.");
          $("remotecap").textContent = "room: connected, nobody publishing";
          log("watch: no video yet (the room has no publisher)");
        }
      }, emptyRoomAfterMs);
    });
    const layer = $("layer").value;
    const location = await exchange("whep", pc, alive, layer ? "?layer=" + encodeURIComponent(layer) : "");
    if (!location) return;
    sessions.sub.location = location;
    video.play().catch(() => {});
    log("watching room " + $("room").value + " (" + location + ")");
  } catch (e) {
    if (!alive()) return; // stopped or superseded meanwhile: not an error
    fail("watch", e, "sub");
    settle.reject(e);
    stopSession("sub");
  }
}

// --- chat over /ws ---

let ws = null, reqID = 0;

function setCounts(publishers, viewers) {
  const c = state.chat;
  c.publishers = Math.max(publishers, 0);
  c.viewers = Math.max(viewers, 0);
  c.members = c.publishers + c.viewers;
  $("members").textContent = "chat: " + $("room").value + " · " + c.members + " in the room (" +
    c.viewers + " watching, " + c.publishers + " publishing)";
}

// showChat appends messages to the list in seq order; a jump in seq (the
// server dropped chat for this page, too slow to take it) is shown as such.
function showChat(messages) {
  const list = $("chatlist");
  const c = state.chat;
  for (const m of messages || []) {
    if (m.seq <= c.lastSeq) continue; // already shown (history and events overlap)
    if (c.lastSeq && m.seq > c.lastSeq + 1) {
      const li = document.createElement("li");
      li.className = "gap";
      li.textContent = (m.seq - c.lastSeq - 1) + " message(s) missed";
      list.append(li);
    }
    c.lastSeq = m.seq;
    c.messages.push({ seq: m.seq, from: m.from, text: m.text });
    if (c.messages.length > 500) c.messages.splice(0, 250);
    const li = document.createElement("li");
    const from = document.createElement("span");
    from.className = "from";
    from.textContent = m.from;
    li.append(from, document.createTextNode(m.text)); // text, never HTML
    list.append(li);
  }
  while (list.childNodes.length > 300) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

function onSignal(m) {
  const c = state.chat;
  switch (m.type) {
    case "joined":
      c.joined = true;
      // Servers before live rooms send no counts: the list is the room.
      if (m.publishers || m.viewers) setCounts(m.publishers || 0, m.viewers || 0);
      else setCounts(0, (m.participants || []).length + 1);
      showChat(m.messages);
      log("chat: joined room " + m.room + " as " + m.identity);
      break;
    case "participant_joined":
      if (m.participant && m.participant.publisher) setCounts(c.publishers + 1, c.viewers);
      else setCounts(c.publishers, c.viewers + 1);
      break;
    case "participant_left":
      if (m.participant && m.participant.publisher) setCounts(c.publishers - 1, c.viewers);
      else setCounts(c.publishers, c.viewers - 1);
      break;
    case "participant_updated": // a viewer published
      setCounts(c.publishers + 1, c.viewers - 1);
      break;
    case "room_update":
      setCounts(m.publishers || 0, m.viewers || 0);
      break;
    case "chat":
      showChat(m.messages);
      break;
    case "error":
      log("chat: " + m.code + (m.reason ? ": " + m.reason : ""));
      break;
  }
}

// joinChat (re)connects to /ws and joins the room in the Room field.
function joinChat() {
  if (ws) ws.close();
  Object.assign(state.chat, { joined: false, messages: [], lastSeq: 0 });
  $("chatlist").replaceChildren();
  const identity = params.get("identity") || "viewer-" + Math.random().toString(36).slice(2, 8);
  const sock = ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws", "livectl.v1");
  sock.onmessage = (ev) => {
    if (sock !== ws) return;
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (m.type === "welcome") {
      const join = { type: "join", id: String(++reqID), room: $("room").value.trim(), identity };
      const token = $("token").value.trim();
      if (token) join.token = token;
      sock.send(JSON.stringify(join));
      return;
    }
    onSignal(m);
  };
  sock.onclose = (ev) => {
    if (sock !== ws) return;
    state.chat.joined = false;
    $("members").textContent = "chat: disconnected (" + ev.code + ")";
    log("chat: connection closed (" + ev.code + (ev.reason ? " " + ev.reason : "") + ")");
  };
}

$("chatform").onsubmit = (ev) => {
  ev.preventDefault();
  const text = $("chattext").value.trim();
  if (!text || !ws || ws.readyState !== WebSocket.OPEN || !state.chat.joined) return;
  ws.send(JSON.stringify({ type: "chat", id: String(++reqID), text, client_time: Date.now() }));
  $("chattext").value = "";
};
$("chatjoin").onclick = joinChat;

$("publish").onclick = publish;
$("watch").onclick = watch;
$("stop").onclick = () => { stopSession("pub"); stopSession("sub"); };
window.addEventListener("pagehide", () => { stopSession("pub"); stopSession("sub"); });

joinChat();
// Start what the URL asks for once the page has loaded: a video element
// given a stream before then delays the page's load event until media
// arrives, and in an empty room none does, so the page never finished
// loading.
function autostart() {
  if (params.get("publish") === "1") publish();
  if (params.get("watch") === "1") watch();
}
if (document.readyState === "complete") autostart(); else window.addEventListener("load", autostart, { once: true });

// livectl demo page: publish the camera with WHIP, watch a room with WHEP.
// Query parameters: room=NAME, token=JWT, publish=1 and/or watch=1 start at
// load (the browser tests use these). window.livectl exposes the state,
// including firstFrameMs: milliseconds from the start of the WHEP attempt
// to the first frame the browser rendered (requestVideoFrameCallback's
// presentationTime), and firstFrame, a promise of it for the last watch().
"use strict";

const state = window.livectl = {
  publishing: false, watching: false, framesRendered: 0,
  firstFrameMs: null, watchStartedAt: null, errors: [], log: [],
};
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.get("room")) $("room").value = params.get("room");
if (params.get("token")) $("token").value = params.get("token");

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
function fail(what, err) {
  const msg = what + ": " + (err && err.message ? err.message : err);
  state.errors.push(msg);
  log("ERROR " + msg);
}

// POSTs the offer to a WHIP/WHEP endpoint at once, without waiting for ICE
// gathering: the relay's answer carries its candidates, and the browser's
// own follow by trickle (PATCH with an SDP fragment, RFC 9725 §4.3.1) — or
// are learnt by the relay from the browser's connectivity checks.
async function exchange(kind, pc) {
  const headers = { "Content-Type": "application/sdp" };
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  const pending = [];
  let location = null;
  const trickle = async (cands) => {
    if (!cands.length) return;
    const frag = cands.map((c) => (c.sdpMid != null ? "a=mid:" + c.sdpMid + "\r\n" : "") + "a=" + c.candidate + "\r\n").join("");
    try {
      await fetch(location, { method: "PATCH", headers: Object.assign({}, headers, { "Content-Type": "application/trickle-ice-sdpfrag" }), body: frag });
    } catch (e) { log(kind + ": trickle failed: " + e); }
  };
  pc.addEventListener("icecandidate", (ev) => {
    if (!ev.candidate || !ev.candidate.candidate) return;
    if (location) trickle([ev.candidate]); else pending.push(ev.candidate);
  });
  // setLocalDescription() creates the offer itself: one round trip into
  // the browser's WebRTC thread instead of two (createOffer, then set).
  await pc.setLocalDescription();
  log(kind + ": offer ready");
  const room = encodeURIComponent($("room").value.trim());
  const resp = await fetch("/" + kind + "/" + room, { method: "POST", headers, body: pc.localDescription.sdp });
  if (resp.status !== 201) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail || detail; } catch (e) {}
    throw new Error(kind.toUpperCase() + " refused (" + resp.status + "): " + detail);
  }
  location = resp.headers.get("Location");
  const answer = await resp.text();
  log(kind + ": answer received");
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  trickle(pending.splice(0));
  return { location };
}

const sessions = {};

// max-bundle: one transport for audio and video from the start, so the
// browser gathers (and trickles) one set of candidates, not one per section.
const newPeerConnection = () => new RTCPeerConnection({ bundlePolicy: "max-bundle" });

async function stopSession(name) {
  const s = sessions[name];
  if (!s) return;
  delete sessions[name];
  s.pc.close();
  if (s.stream) s.stream.getTracks().forEach((t) => t.stop());
  if (s.location) {
    try { await fetch(s.location, { method: "DELETE" }); } catch (e) {}
  }
}

async function publish() {
  await stopSession("pub");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    $("local").srcObject = stream;
    const pc = newPeerConnection();
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    sessions.pub = { pc, stream };
    pc.onconnectionstatechange = () => {
      $("localcap").textContent = "camera: " + pc.connectionState;
      state.publishing = pc.connectionState === "connected";
      log("publish: " + pc.connectionState);
    };
    const { location } = await exchange("whip", pc);
    sessions.pub.location = location;
    log("publishing to room " + $("room").value + " (" + location + ")");
  } catch (e) {
    fail("publish", e);
  }
}

// watchAttempt numbers watch() calls: a frame callback chain left over from
// an earlier call must neither count frames nor set firstFrameMs for a newer
// one (the video element outlives the peer connection).
let watchAttempt = 0;

async function watch() {
  const attempt = ++watchAttempt;
  // state.firstFrame settles with this attempt: firstFrameMs, or its error.
  // Tests await it instead of polling the page while it works.
  let settle;
  state.firstFrame = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  state.firstFrame.catch(() => {}); // nobody may be waiting
  await stopSession("sub");
  state.framesRendered = 0;
  state.firstFrameMs = null;
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
      if (attempt !== watchAttempt) return; // superseded: end this chain
      state.framesRendered++;
      if (state.firstFrameMs === null) {
        // presentationTime: when the frame went to the compositor. The
        // callback itself runs at the next animation frame, up to a frame
        // interval (16.7 ms at 60 Hz) later.
        state.firstFrameMs = (md && md.presentationTime ? md.presentationTime : performance.now()) - started;
        log("first frame rendered after " + state.firstFrameMs.toFixed(0) + " ms");
        settle.resolve(state.firstFrameMs);
      }
      $("remotecap").textContent = "room: " + state.framesRendered + " frames, first after " +
        state.firstFrameMs.toFixed(0) + " ms, " + video.videoWidth + "x" + video.videoHeight;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
    sessions.sub = { pc };
    pc.onconnectionstatechange = () => {
      state.watching = pc.connectionState === "connected";
      log("watch: " + pc.connectionState);
    };
    const { location } = await exchange("whep", pc);
    sessions.sub.location = location;
    video.play().catch(() => {});
    log("watching room " + $("room").value + " (" + location + ")");
  } catch (e) {
    fail("watch", e);
    settle.reject(e);
  }
}

$("publish").onclick = publish;
$("watch").onclick = watch;
$("stop").onclick = () => { stopSession("pub"); stopSession("sub"); };
window.addEventListener("pagehide", () => { stopSession("pub"); stopSession("sub"); });

if (params.get("publish") === "1") publish();
if (params.get("watch") === "1") watch();

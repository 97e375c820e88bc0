// livectl demo page: publish the camera with WHIP, watch a room with WHEP.
// Query parameters: room=NAME, token=JWT, publish=1 and/or watch=1 start at
// load (the browser tests use these). window.livectl exposes the state,
// including firstFrameMs: milliseconds from the start of the WHEP attempt
// to the first frame the browser rendered (requestVideoFrameCallback).
"use strict";

const state = window.livectl = {
  publishing: false, watching: false, framesRendered: 0,
  firstFrameMs: null, watchStartedAt: null, errors: [], log: [],
};
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.get("room")) $("room").value = params.get("room");
if (params.get("token")) $("token").value = params.get("token");

function log(msg) {
  const line = new Date().toISOString().slice(11, 23) + " " + msg;
  state.log.push(line);
  $("log").textContent += line + "\n";
  $("log").scrollTop = 1e9;
}
function fail(what, err) {
  const msg = what + ": " + (err && err.message ? err.message : err);
  state.errors.push(msg);
  log("ERROR " + msg);
}

// Waits until ICE gathering completes (bounded: loopback gathers at once).
function gathered(pc, ms = 2000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
    });
  });
}

// POSTs the offer to a WHIP/WHEP endpoint; returns {answer, location}.
async function exchange(kind, pc) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc);
  const headers = { "Content-Type": "application/sdp" };
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  const room = encodeURIComponent($("room").value.trim());
  const resp = await fetch("/" + kind + "/" + room, { method: "POST", headers, body: pc.localDescription.sdp });
  if (resp.status !== 201) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail || detail; } catch (e) {}
    throw new Error(kind.toUpperCase() + " refused (" + resp.status + "): " + detail);
  }
  const answer = await resp.text();
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  return { location: resp.headers.get("Location") };
}

const sessions = {};

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
    const pc = new RTCPeerConnection();
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

async function watch() {
  await stopSession("sub");
  state.framesRendered = 0;
  state.firstFrameMs = null;
  const started = performance.now();
  state.watchStartedAt = started;
  try {
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const video = $("remote");
    const stream = new MediaStream();
    video.srcObject = stream;
    pc.ontrack = (ev) => {
      stream.addTrack(ev.track);
      log("watch: got " + ev.track.kind + " track");
    };
    const onFrame = () => {
      state.framesRendered++;
      if (state.firstFrameMs === null) {
        state.firstFrameMs = performance.now() - started;
        log("first frame rendered after " + state.firstFrameMs.toFixed(0) + " ms");
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
  }
}

$("publish").onclick = publish;
$("watch").onclick = watch;
$("stop").onclick = () => { stopSession("pub"); stopSession("sub"); };
window.addEventListener("pagehide", () => { stopSession("pub"); stopSession("sub"); });

if (params.get("publish") === "1") publish();
if (params.get("watch") === "1") watch();

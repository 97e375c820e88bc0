// Package signalbench is the signaling session generator behind `livectl
// bench signal`: an open-model ramp of sessions, a hold with pings, and
// leave; its JSON report with histogram snapshots, and the merge and
// comparison of such reports. It runs on bench's core (children for --procs,
// the self-watch, the server sampler).
//
// The generator reaches a server only through internal/signal's client, the
// same one a user's program would use, so it works against any server that
// speaks the protocol; --protocol raw drives any WebSocket server.
package signalbench

// Package bench holds livectl's load generators and what they share: the
// signaling session generator behind `livectl bench signal` (open-model ramp,
// hold with pings, leave), its JSON report with histogram snapshots, the
// merge and comparison of reports, child processes for --procs, and the
// generator's watch on itself. Machine headroom checks live in
// bench/preflight; the measurement pieces other tools share live outside
// bench: histograms in metrics/hist, thresholds in metrics/threshold and the
// progress display in term/progress.
//
// The generator reaches a server only through internal/signal's client, the
// same one a user's program would use, so it works against any server that
// speaks the protocol; --protocol raw drives any WebSocket server.
package bench

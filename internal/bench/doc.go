// Package bench is the core of livectl's load generators: what every
// generator needs around its own traffic. It runs a generator spread over
// child processes (--procs: Children on the parent side, ServeChild on the
// child side, Shares to split the work), watches the generator itself
// (Monitor: is the generator the bottleneck?), reads the target server
// (Sampler: /v1/stats and /proc, one reader for every generator), and holds
// the report plumbing the generators share (merging generator figures and
// targets, comparisons, rates, table numbers). bench/preflight checks a
// run fits this machine before it starts.
//
// The generators sit beside each other on this core: bench/signalbench
// (`livectl bench signal`) and bench/mediabench (`livectl bench media`).
// The measurement pieces other tools share live outside bench:
// histograms in metrics/hist, thresholds in metrics/threshold and the
// progress display in term/progress.
package bench

// Command livectl is a toolkit for people who run live-streaming infrastructure:
// a WebRTC signaling + SFU server, load generators, a first-frame probe, pprof
// inspection and a live dashboard. The command tree lives in internal/cli.
package main

import (
	"os"

	"github.com/livectl/livectl/internal/cli"
)

func main() { os.Exit(cli.Main()) }

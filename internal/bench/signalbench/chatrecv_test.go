package signalbench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livectl/livectl/internal/signal"
)

// chatFeedEnv makes the test binary a chat server for
// BenchmarkChatReceive (TestMain): in its own process, so that the
// benchmark's CPU time (getrusage of this process) is the receivers'
// alone, as a bench run's is.
const chatFeedEnv = "SIGNALBENCH_CHAT_FEED"

// chatFeedMsgs is the messages per frame: 50 messages/s batched over the
// server's default 50 ms window.
const chatFeedMsgs = 3

// chatFeedEvery is how often the feed sends each connection a frame.
const chatFeedEvery = 2 * time.Millisecond

// chatFeed serves /ws: a welcome, then ?frames=N chat frames of
// chatFeedMsgs messages each, encoded by signal.Encode as livectl serve
// encodes them (seq from 1, client_time the current time), each written
// with its own system call, as the server's writer sends a batch, one
// every chatFeedEvery on each connection: receivers wait for each frame
// as they do in a run (a run's member gets one every 50 ms, but has
// thousands of peers in the process). It prints its address and ends
// when stdin closes.
func chatFeed() {
	up := websocket.Upgrader{Subprotocols: []string{signal.Subprotocol}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, req *http.Request) {
		frames, _ := strconv.Atoi(req.URL.Query().Get("frames"))
		ws, err := up.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		welcome, _ := signal.Encode(&signal.Message{Type: signal.TypeWelcome, Protocol: signal.Version, SessionID: "s"})
		if ws.WriteMessage(websocket.TextMessage, welcome) != nil {
			return
		}
		nc := ws.NetConn()
		var seq uint64
		tick := time.NewTicker(chatFeedEvery)
		defer tick.Stop()
		for range frames {
			<-tick.C
			msgs := make([]signal.ChatMessage, chatFeedMsgs)
			now := time.Now().UnixMilli()
			for i := range msgs {
				seq++
				msgs[i] = signal.ChatMessage{Seq: seq, From: "bench-abcdef-" + strconv.Itoa(int(seq%2000)),
					Text: "bench chat from " + strconv.Itoa(int(seq%2000)), ClientTime: now, ServerTime: now}
			}
			p, _ := signal.Encode(&signal.Message{Type: signal.TypeChat, Room: "bench-abcdef-0", Messages: msgs})
			if _, err := nc.Write(wsFrame(p)); err != nil {
				return
			}
		}
		ws.ReadMessage() // until the client closes
	})
	srv := &http.Server{Handler: mux}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	go srv.Serve(ln)
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

// wsFrame is p as one unmasked WebSocket text frame (server to client).
func wsFrame(p []byte) []byte {
	var h []byte
	switch {
	case len(p) < 126:
		h = []byte{0x81, byte(len(p))}
	case len(p) < 1<<16:
		h = []byte{0x81, 126, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(len(p)))
	default:
		h = make([]byte, 10)
		h[0], h[1] = 0x81, 127
		binary.BigEndian.PutUint64(h[2:], uint64(len(p)))
	}
	return append(h, p...)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkChatReceive is the bench's cost of receiving chat: sessions
// dialled as bench signal dials them (signal client, WantEvent, the chat
// scan, gaps, latency histograms) read frames from a server in another
// process over loopback. One op is one frame of chatFeedMsgs messages to
// one session; cpu-s/M-deliveries is this process's CPU per million
// messages received, the figure a bench report gives as
// client_cpu_s_per_million_deliveries.
func BenchmarkChatReceive(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), chatFeedEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	const sessions = 200
	frames := max(b.N/sessions, 1)
	url := "ws://" + addr[:len(addr)-1] + "/ws?frames=" + strconv.Itoa(frames)
	r, err := NewRun(Options{URL: url, Conns: sessions, Rate: 1000, ChatRate: 50, RunID: "b", RoomSize: sessions})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	ss := make([]*session, sessions)
	for i := range ss {
		ss[i] = &session{r: r, idx: i}
		c, err := r.dialLivectl(context.Background(), ss[i])
		if err != nil {
			b.Fatal(err)
		}
		ss[i].c = c
		defer c.(*livectlConn).c.Close()
	}
	want := uint64(frames * chatFeedMsgs)
	deadline := time.Now().Add(5 * time.Minute)
	for _, s := range ss {
		for s.recv.last.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("session %d got seq %d of %d", s.idx, s.recv.last.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	var got, gaps int64
	for _, s := range ss {
		got += s.recv.got.Load()
		gaps += s.recv.gaps.Load()
	}
	if got != int64(want)*sessions || gaps != 0 {
		b.Fatalf("%d deliveries and %d gaps, want %d and none", got, gaps, int64(want)*sessions)
	}
	if n := r.chatHist().Count(); n != got {
		b.Fatalf("%d latencies recorded for %d deliveries", n, got)
	}
	b.ReportMetric(cpu.Seconds()/(float64(got)/1e6), "cpu-s/M-deliveries")
}

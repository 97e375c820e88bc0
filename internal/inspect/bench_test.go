package inspect

import (
	"bytes"
	"fmt"
	"testing"
)

// benchProfile is a goroutine profile of a busy server: 1000 distinct
// stacks of 20 frames holding 10 goroutines each (10,000 goroutines).
func benchProfile(b *testing.B) *GoroutineProfile {
	var stacks []synthStack
	for i := 0; i < 1000; i++ {
		fs := []Frame{fr("runtime.gopark", "/go/src/runtime/proc.go", 435), fr("runtime.selectgo", "/go/src/runtime/select.go", 351)}
		for j := 0; j < 18; j++ {
			fs = append(fs, fr(fmt.Sprintf("example.com/app/p%d.F%d", i%50, j), fmt.Sprintf("/src/app/p%d/f.go", i%50), int64(i*100+j)))
		}
		stacks = append(stacks, synthStack{[]int64{10}, fs})
	}
	t := &testing.T{}
	raw := synthProfile(t, goroutineType, stacks, t0)
	gp, err := ParseGoroutineProfile(raw, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return gp
}

func BenchmarkGroupProfile(b *testing.B) {
	gp := benchProfile(b)
	b.ReportAllocs()
	for b.Loop() {
		GroupProfile(gp, GroupOptions{Top: 20})
	}
}

func BenchmarkParseGoroutineProfile(b *testing.B) {
	gp := benchProfile(b)
	b.SetBytes(int64(len(gp.Raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseGoroutineProfile(gp.Raw, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDump(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&buf, "goroutine %d [select, 3 minutes]:\n", i+1)
		for j := 0; j < 18; j++ {
			fmt.Fprintf(&buf, "example.com/app/p%d.F%d(0xc000010000, {0x1, 0x2})\n\t/src/app/p%d/f.go:%d +0x45\n", i%50, j, i%50, i*100+j)
		}
		fmt.Fprintf(&buf, "created by example.com/app.Start in goroutine 1\n\t/src/app/start.go:9 +0x99\n\n")
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDump(data); err != nil {
			b.Fatal(err)
		}
	}
}

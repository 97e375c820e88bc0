package media

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// The readers and depacketizers here overlap pion's
// (webrtc/v4/pkg/media/{ivfreader,h264reader,oggreader}, rtp/codecs). These
// benchmarks read the same files both ways, so that the choice doc.go
// records can be measured again when pion changes:
//
//	go test -run '^$' -bench 'Reader|Depacketize' -benchmem ./internal/media

// BenchmarkReaders reads the built-in clips and testdata/clip.h264 with
// ours and pion's readers. Ours returns Ogg Opus packets, pion's page
// payloads (the clip has one packet a page, so the counts agree), and
// pion's checks each page's CRC where ours does not.
func BenchmarkReaders(b *testing.B) {
	h264, err := os.ReadFile("testdata/clip.h264")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		file []byte
		open func(io.Reader) (next func() error, err error)
	}{
		{"ivf/livectl", ClipVP8Bytes(), func(in io.Reader) (func() error, error) {
			r, err := NewIVFReader(in)
			return func() error { _, err := r.Next(); return err }, err
		}},
		{"ivf/pion", ClipVP8Bytes(), func(in io.Reader) (func() error, error) {
			r, _, err := ivfreader.NewWith(in)
			return func() error { _, _, err := r.ParseNextFrame(); return err }, err
		}},
		{"h264/livectl", h264, func(in io.Reader) (func() error, error) {
			r := NewH264Reader(in)
			return func() error { _, err := r.NextNAL(); return err }, nil
		}},
		{"h264/pion", h264, func(in io.Reader) (func() error, error) {
			r, err := h264reader.NewReaderWithOptions(in, h264reader.WithIncludeSEI(true))
			return func() error { _, err := r.NextNAL(); return err }, err
		}},
		{"ogg/livectl", ClipOggBytes(), func(in io.Reader) (func() error, error) {
			r, err := NewOggReader(in)
			return func() error { _, err := r.Next(); return err }, err
		}},
		{"ogg/pion", ClipOggBytes(), func(in io.Reader) (func() error, error) {
			r, _, err := oggreader.NewWith(in)
			return func() error { _, _, err := r.ParseNextPage(); return err }, err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.file)))
			for b.Loop() {
				next, err := c.open(bytes.NewReader(c.file))
				if err != nil {
					b.Fatal(err)
				}
				for {
					err := next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkDepacketize turns each frame's RTP packets (in order, complete)
// back into the frame: the Assembler's buildVP8/buildH264, and pion's
// VP8Packet/H264Packet. The Assembler's reordering and loss handling is
// not measured; pion's depacketizers have none.
func BenchmarkDepacketize(b *testing.B) {
	vp8 := clipFrames(b)
	h264, _ := h264Units(b)
	for _, c := range []struct {
		name   string
		mime   string
		frames [][]byte
		pay    rtp.Payloader
		dep    func() rtp.Depacketizer
	}{
		{"vp8", MimeVP8, vp8, &codecs.VP8Payloader{EnablePictureID: true}, func() rtp.Depacketizer { return &codecs.VP8Packet{} }},
		{"h264", MimeH264, h264, &codecs.H264Payloader{}, func() rtp.Depacketizer { return &codecs.H264Packet{} }},
	} {
		var runs [][]pkt
		for _, ps := range packetize(c.pay, c.frames, 1, 0) {
			var run []pkt
			for _, p := range ps {
				run = append(run, pkt{seq: p.SequenceNumber, payload: p.Payload, marker: p.Marker})
			}
			runs = append(runs, run)
		}
		build := buildVP8
		if c.mime == MimeH264 {
			build = buildH264
		}
		b.Run(c.name+"/livectl", func(b *testing.B) {
			for b.Loop() {
				for i, run := range runs {
					if _, err := build(run); err != nil {
						b.Fatalf("frame %d: %v", i, err)
					}
				}
			}
		})
		b.Run(c.name+"/pion", func(b *testing.B) {
			for b.Loop() {
				d := c.dep()
				for _, run := range runs {
					var f []byte
					for _, q := range run {
						part, err := d.Unmarshal(q.payload)
						if err != nil {
							b.Fatal(err)
						}
						f = append(f, part...)
					}
				}
			}
		})
	}
}

// Package media holds the codec helpers that the relay and the measurement
// tools share: keyframe detection on RTP payloads (VP8, H.264), frame
// assembly from RTP packets, VP8 key-frame decoding, black and frozen picture
// checks, readers for the file formats `livectl publish` accepts (IVF, H.264
// Annex-B, Ogg Opus) and the built-in looping clip.
//
// Everything here parses untrusted bytes from the network or from files, so
// every parser bounds its reads and returns an error instead of panicking;
// fuzz targets beside each parser hold that line.
//
// The package imports only the standard library, pion's rtp packages and
// golang.org/x/image, so that it can be used from any side (server or tool)
// without dragging in a peer connection.
//
// # What comes from pion, and what does not
//
// The VP8 RTP payload descriptor (RFC 7741) is parsed by pion's
// codecs.VP8Packet: keyframe detection, frame counting and VP8 assembly all
// go through it. It allocates nothing, like the parser it replaced.
//
// pion also ships file readers (webrtc/v4/pkg/media/ivfreader, h264reader,
// oggreader) and an H.264 depacketizer (rtp/codecs.H264Packet). They are
// not used, because on hostile or broken input they do what this package
// must not (pion v4.2.26 and rtp v1.10.6, read and tried):
//
//   - ivfreader allocates a frame's declared size before reading it: a
//     44-byte file declaring a 4 GiB frame allocates 4 GiB, and then reports
//     the cut file as a clean io.EOF. IVFReader refuses frames over
//     MaxFrameSize and reports a cut frame as io.ErrUnexpectedEOF. ivfreader
//     also refuses a zero time base and reads a header longer than 32 bytes
//     as frames; IVFReader accepts the one and skips the rest of the other.
//   - h264reader buffers a NAL unit until the next start code with no bound
//     (a start code followed by 64 MiB without another made it allocate
//     439 MiB), turns a read error into a truncated NAL and then io.EOF,
//     rejects a stream that does not open with a start code, and drops SEI
//     units unless asked. H264Reader bounds a NAL unit at MaxFrameSize,
//     returns read errors, skips leading bytes and groups NAL units into
//     access units (publish sends frames, not NAL units).
//   - oggreader returns a page's payload whole. An Ogg page holds several
//     Opus packets in files from opusenc and libopus, and a packet may
//     continue on the next page; only the page's lacing values (which
//     oggreader does not return) say where packets end. OggReader splits
//     pages into packets, bounds a packet at 64 KiB and skips the tail of a
//     packet whose start it never saw. Its pages are bounded by the format
//     (255 segments of 255 bytes), as are oggreader's.
//   - codecs.H264Packet glues FU-A fragments together whatever their start
//     and end bits say (a fragment run whose start was lost comes out as a
//     NAL unit without its beginning), lets a single NAL unit interrupt a
//     fragment run, and emits an empty NAL unit for a zero-length STAP-A
//     entry. The Assembler drops such a frame instead of reporting a broken
//     frame as complete, learns the picture size from the SPS and keyframe
//     status from the NAL types while it copies, and on the test clip
//     allocates 139 KB in 152 allocations where H264Packet took 327 KB in
//     279 (BenchmarkDepacketize).
//
// bench_test.go reads the same files with both; TestReadersRejectGarbage,
// TestOggPackets and TestBuildH264RejectsBrokenRuns hold the differences
// above, so the choice can be checked again when pion changes.
package media

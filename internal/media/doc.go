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
package media

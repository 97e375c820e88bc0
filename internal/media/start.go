package media

import "strings"

// StartsFrame reports whether an RTP payload of a video stream (VP8 or
// H.264) opens a frame, as Assembler decides it: the start of VP8
// partition 0, or the start of an H.264 access unit. It lets a reader that
// only counts frames (the probe's CountOnly mode) find them without
// assembling their data.
func StartsFrame(mimeType string, payload []byte) bool {
	switch {
	case strings.EqualFold(mimeType, MimeVP8):
		_, start, pid, ok := vp8Descriptor(payload)
		return ok && start && pid == 0
	case strings.EqualFold(mimeType, MimeH264):
		return h264StartsAccessUnit(payload)
	}
	return false
}

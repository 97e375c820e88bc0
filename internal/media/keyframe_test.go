package media

import "testing"

func TestIsDecoderStart(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xe0, 0x1f}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	stap := func(nalus ...[]byte) []byte {
		b := []byte{24}
		for _, n := range nalus {
			b = append(b, byte(len(n)>>8), byte(len(n)))
			b = append(b, n...)
		}
		return b
	}
	vp8Key := []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a}
	tests := []struct {
		name    string
		mime    string
		payload []byte
		want    bool
	}{
		{"h264 SPS alone", MimeH264, sps, true},
		{"h264 STAP-A with SPS and PPS", MimeH264, stap(sps, pps), true},
		{"h264 STAP-A with PPS only", MimeH264, stap(pps), false},
		{"h264 IDR single NAL (keyframe, but no SPS)", MimeH264, []byte{0x65, 0x88}, false},
		{"h264 FU-A start of IDR (keyframe, but no SPS)", MimeH264, []byte{0x7c, 0x85, 0x88}, false},
		{"h264 truncated STAP-A", MimeH264, []byte{24, 0x00, 0x09, 0x67}, false},
		{"h264 empty", MimeH264, nil, false},
		{"vp8 follows IsKeyframe", MimeVP8, vp8Key, IsKeyframe(MimeVP8, vp8Key)},
		{"opus never", MimeOpus, []byte{0xfc}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsDecoderStart(tt.mime, tt.payload); got != tt.want {
				t.Errorf("IsDecoderStart(%s, % x) = %v, want %v", tt.mime, tt.payload, got, tt.want)
			}
		})
	}
	// The two H.264 cases that are keyframes but not decoder starts are
	// exactly what this function adds over IsKeyframe.
	if !IsKeyframe(MimeH264, []byte{0x7c, 0x85, 0x88}) {
		t.Error("FU-A IDR start should still be a keyframe for IsKeyframe")
	}
}

func TestVP8KeyframeSize(t *testing.T) {
	// Payload descriptor (S=1, PID 0) then a key frame header for 320x180.
	key := []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00}
	tests := []struct {
		name    string
		payload []byte
		w, h    int
		ok      bool
	}{
		{"keyframe start", key, 320, 180, true},
		{"delta frame", append([]byte{0x10, 0x01}, key[2:]...), 0, 0, false},
		{"continuation (S=0)", append([]byte{0x00}, key[1:]...), 0, 0, false},
		{"truncated header", key[:8], 0, 0, false},
		{"empty", nil, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h, ok := VP8KeyframeSize(tt.payload)
			if w != tt.w || h != tt.h || ok != tt.ok {
				t.Errorf("VP8KeyframeSize(% x) = %d, %d, %v; want %d, %d, %v", tt.payload, w, h, ok, tt.w, tt.h, tt.ok)
			}
		})
	}
}

package media

import "errors"

// bitReader reads the RBSP of a NAL unit bit by bit, removing emulation
// prevention bytes (00 00 03) on the way.
type bitReader struct {
	b     []byte
	pos   int // byte position
	bit   uint
	zeros int
	cur   byte
	have  bool
}

var errShortSPS = errors.New("SPS truncated")

func (r *bitReader) readBit() (uint, error) {
	if !r.have {
		for {
			if r.pos >= len(r.b) {
				return 0, errShortSPS
			}
			c := r.b[r.pos]
			r.pos++
			if r.zeros >= 2 && c == 3 {
				r.zeros = 0
				continue
			}
			if c == 0 {
				r.zeros++
			} else {
				r.zeros = 0
			}
			r.cur, r.have, r.bit = c, true, 0
			break
		}
	}
	v := uint(r.cur>>(7-r.bit)) & 1
	r.bit++
	if r.bit == 8 {
		r.have = false
	}
	return v, nil
}

func (r *bitReader) bits(n int) (uint, error) {
	var v uint
	for range n {
		b, err := r.readBit()
		if err != nil {
			return 0, err
		}
		v = v<<1 | b
	}
	return v, nil
}

func (r *bitReader) ue() (uint, error) {
	lz := 0
	for {
		b, err := r.readBit()
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		lz++
		if lz > 31 {
			return 0, errors.New("SPS: exp-Golomb code too long")
		}
	}
	v, err := r.bits(lz)
	return (1<<lz - 1) + v, err
}

func (r *bitReader) se() (int, error) {
	v, err := r.ue()
	if v&1 == 1 {
		return int(v+1) / 2, err
	}
	return -int(v / 2), err
}

// ParseH264SPS returns the picture size a sequence parameter set NAL unit
// (with its one-byte header) declares, after cropping (H.264 §7.3.2.1.1).
func ParseH264SPS(nal []byte) (width, height int, err error) {
	if len(nal) < 4 || nal[0]&naluTypeMk != naluSPS {
		return 0, 0, errors.New("not an SPS NAL unit")
	}
	r := &bitReader{b: nal[1:]}
	profile, _ := r.bits(8)
	r.bits(16)                        // constraint flags, level
	if _, err := r.ue(); err != nil { // seq_parameter_set_id
		return 0, 0, err
	}
	chroma := uint(1)
	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		if chroma, err = r.ue(); err != nil {
			return 0, 0, err
		}
		if chroma == 3 {
			r.bits(1) // separate_colour_plane_flag
		}
		r.ue()                         // bit_depth_luma_minus8
		r.ue()                         // bit_depth_chroma_minus8
		r.bits(1)                      // qpprime_y_zero_transform_bypass_flag
		if f, _ := r.bits(1); f == 1 { // seq_scaling_matrix_present_flag
			n := 8
			if chroma == 3 {
				n = 12
			}
			for i := range n {
				if present, _ := r.bits(1); present == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					last, next := 8, 8
					for range size {
						if next != 0 {
							d, err := r.se()
							if err != nil {
								return 0, 0, err
							}
							next = (last + d + 256) % 256
						}
						if next != 0 {
							last = next
						}
					}
				}
			}
		}
	}
	r.ue() // log2_max_frame_num_minus4
	poc, err := r.ue()
	if err != nil {
		return 0, 0, err
	}
	switch poc {
	case 0:
		r.ue()
	case 1:
		r.bits(1)
		r.se()
		r.se()
		n, err := r.ue()
		if err != nil || n > 255 {
			return 0, 0, errors.New("SPS: bad num_ref_frames_in_pic_order_cnt_cycle")
		}
		for range n {
			r.se()
		}
	}
	r.ue()    // max_num_ref_frames
	r.bits(1) // gaps_in_frame_num_value_allowed_flag
	wmbs, _ := r.ue()
	hmaps, _ := r.ue()
	frameMBsOnly, err := r.bits(1)
	if err != nil {
		return 0, 0, err
	}
	if frameMBsOnly == 0 {
		r.bits(1) // mb_adaptive_frame_field_flag
	}
	r.bits(1) // direct_8x8_inference_flag
	var cl, cr, ct, cb uint
	// The reader's error sticks: this one also covers the flags above,
	// whose values are not needed.
	crop, err := r.bits(1)
	if err != nil {
		return 0, 0, err
	}
	if crop == 1 {
		cl, _ = r.ue()
		cr, _ = r.ue()
		ct, _ = r.ue()
		if cb, err = r.ue(); err != nil {
			return 0, 0, err
		}
	}
	if wmbs > 1024 || hmaps > 1024 {
		return 0, 0, errors.New("SPS: picture size out of range")
	}
	w := int(wmbs+1) * 16
	h := int(2-frameMBsOnly) * int(hmaps+1) * 16
	cx, cy := 2, 2*int(2-frameMBsOnly) // 4:2:0
	if chroma == 3 || chroma == 0 {
		cx, cy = 1, int(2-frameMBsOnly)
	} else if chroma == 2 {
		cy = int(2 - frameMBsOnly)
	}
	w -= cx * int(cl+cr)
	h -= cy * int(ct+cb)
	if w <= 0 || h <= 0 {
		return 0, 0, errors.New("SPS: cropping larger than the picture")
	}
	return w, h, nil
}

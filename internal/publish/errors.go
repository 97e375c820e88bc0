package publish

import "errors"

var (
	// ErrNoRoom is returned for a ws:// URL without a room.
	ErrNoRoom = errors.New("a room is needed to publish over /ws")
	// ErrNotConnected is wrapped in the error of a Start whose peer
	// connection (ICE and DTLS) did not come up within ConnectTimeout.
	ErrNotConnected = errors.New("ICE/DTLS did not connect")
	// ErrUnknownFormat is wrapped in the error of a Start whose File is
	// not a format the publisher can send: the caller chose the wrong
	// file, which no retry fixes.
	ErrUnknownFormat = errors.New("unknown format (want IVF VP8, H.264 Annex-B or Ogg Opus)")
	// ErrSimulcastFile is returned for simulcast with a file: only the
	// built-in clip comes in layers.
	ErrSimulcastFile = errors.New("simulcast sends the built-in clip's three layers; it cannot be combined with a file")
)

// FileError is a media file that cannot be published (missing, unreadable,
// an unknown format or codec); its text is the cause's.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

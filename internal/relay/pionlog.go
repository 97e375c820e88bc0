package relay

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/logging"
)

// pionLogs sends pion's logs (ICE, DTLS, SRTP, interceptors) to the
// relay's slog logger, so that they share its format (--log-format json
// keeps stderr all JSON) and level. Without it every peer connection
// builds pion's default loggers: five log.Logger per scope and a dozen
// scopes per peer, ~7 KB of heap per viewer that logs nothing.
//
// Levels: pion's errors and warnings concern one peer connection (a
// failed handshake, a bad packet), which the server outlives, so both are
// warnings; its info is per-connection chatter, logged at debug; its
// debug and trace logs, which run per packet and per check, are dropped.
type pionLogs struct {
	log     *slog.Logger
	mu      sync.Mutex
	loggers map[string]*pionLogger // one per scope, shared by every peer
}

func newPionLogs(log *slog.Logger) *pionLogs {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &pionLogs{log: log, loggers: make(map[string]*pionLogger)}
}

// NewLogger implements logging.LoggerFactory.
func (f *pionLogs) NewLogger(scope string) logging.LeveledLogger {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.loggers[scope]
	if l == nil {
		l = &pionLogger{log: f.log.With("pion", scope)}
		f.loggers[scope] = l
	}
	return l
}

type pionLogger struct{ log *slog.Logger }

func (l *pionLogger) emit(level slog.Level, msg string) { l.log.Log(context.Background(), level, msg) }

func (l *pionLogger) emitf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (l *pionLogger) Trace(string)          {}
func (l *pionLogger) Tracef(string, ...any) {}
func (l *pionLogger) Debug(string)          {}
func (l *pionLogger) Debugf(string, ...any) {}
func (l *pionLogger) Info(msg string)       { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Infof(format string, args ...any) {
	l.emitf(slog.LevelDebug, format, args...)
}
func (l *pionLogger) Warn(msg string) { l.emit(slog.LevelWarn, msg) }
func (l *pionLogger) Warnf(format string, args ...any) {
	l.emitf(slog.LevelWarn, format, args...)
}
func (l *pionLogger) Error(msg string) { l.emit(slog.LevelWarn, msg) }
func (l *pionLogger) Errorf(format string, args ...any) {
	l.emitf(slog.LevelWarn, format, args...)
}

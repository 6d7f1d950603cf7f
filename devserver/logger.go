package devserver

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// slogLogger routes the Temporal server's logs to a slog.Logger, dropping
// records below level, and every record once stopping is set: a stopping
// server logs each poll, dial and call it loses as a warning or an error.
type slogLogger struct {
	log      *slog.Logger
	level    slog.Leveler
	stopping *atomic.Bool
	tags     []tag.Tag // from With
}

var (
	_ log.Logger     = slogLogger{}
	_ log.WithLogger = slogLogger{}
)

func (l slogLogger) Debug(msg string, tags ...tag.Tag) { l.emit(slog.LevelDebug, msg, tags) }
func (l slogLogger) Info(msg string, tags ...tag.Tag)  { l.emit(slog.LevelInfo, msg, tags) }
func (l slogLogger) Warn(msg string, tags ...tag.Tag)  { l.emit(slog.LevelWarn, msg, tags) }
func (l slogLogger) Error(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal log at error level: an embedded server must not
// take the host process down.
func (l slogLogger) DPanic(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }
func (l slogLogger) Panic(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }
func (l slogLogger) Fatal(msg string, tags ...tag.Tag)  { l.emit(slog.LevelError, msg, tags) }

// With returns a logger that adds tags to every record. The tags are
// converted only when a record is written: the server calls With often and
// drops most records.
func (l slogLogger) With(tags ...tag.Tag) log.Logger {
	l.tags = append(slices.Clip(l.tags), tags...)
	return l
}

func (l slogLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level < l.level.Level() || l.stopping.Load() || !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(l.tags)+len(tags))
	for _, group := range [][]tag.Tag{l.tags, tags} {
		for _, t := range group {
			attrs = append(attrs, slog.Any(t.Key(), t.Value()))
		}
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

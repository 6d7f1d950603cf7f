package connectors

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// slogAdapter is retryablehttp's LeveledLogger on slog. Every message and
// value passes through redact: retryablehttp logs full URLs, query keys
// included, and transport errors that repeat them.
type slogAdapter struct {
	log    *slog.Logger
	redact func(string) string
}

// Error is used for every failed try. The caller gets the final outcome as
// an error of its own, so a try that failed is a warning.
func (a slogAdapter) Error(msg string, kv ...any) { a.emit(slog.LevelWarn, msg, kv) }
func (a slogAdapter) Warn(msg string, kv ...any)  { a.emit(slog.LevelWarn, msg, kv) }
func (a slogAdapter) Info(msg string, kv ...any)  { a.emit(slog.LevelInfo, msg, kv) }
func (a slogAdapter) Debug(msg string, kv ...any) { a.emit(slog.LevelDebug, msg, kv) }

func (a slogAdapter) emit(level slog.Level, msg string, kv []any) {
	ctx := context.Background()
	if !a.log.Enabled(ctx, level) {
		return
	}
	args := make([]any, len(kv))
	for i, v := range kv {
		switch v := v.(type) {
		case string:
			args[i] = a.redact(v)
		case time.Duration, int, int64, bool:
			args[i] = v
		case error:
			args[i] = a.redact(v.Error())
		default:
			args[i] = a.redact(fmt.Sprint(v))
		}
	}
	a.log.Log(ctx, level, "http: "+a.redact(msg), args...)
}

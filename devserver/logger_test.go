package devserver

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

func TestSlogLogger(t *testing.T) {
	var buf bytes.Buffer
	stopping := new(atomic.Bool)
	l := slogLogger{
		log:      slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		level:    slog.LevelWarn,
		stopping: stopping,
	}
	l.Info("dropped info")
	l.With(tag.NewStringTag("service", "history")).Warn("kept warn", tag.NewInt("shard", 1))
	l.Fatal("kept fatal")
	stopping.Store(true)
	l.Error("dropped while stopping")

	got := buf.String()
	for _, want := range []string{
		`level=WARN msg="kept warn" service=history shard=1`,
		`level=ERROR msg="kept fatal"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"dropped info", "dropped while stopping"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("log output has %q:\n%s", unwanted, got)
		}
	}
}

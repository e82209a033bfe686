package devserver

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger passes the server's warnings and errors to slog and drops the rest:
// at Info the server logs every shard, queue and membership change.
type serverLogger struct {
	log *slog.Logger
	// stopping is set by Server.Stop. Shutdown makes the server warn about every
	// connection it closes; only errors are worth showing then.
	stopping *atomic.Bool
	tags     []tag.Tag // from With, rendered only when something is logged
}

var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
)

func (serverLogger) Debug(string, ...tag.Tag) {}
func (serverLogger) Info(string, ...tag.Tag)  {}

func (l serverLogger) Warn(msg string, tags ...tag.Tag)   { l.write(slog.LevelWarn, msg, tags) }
func (l serverLogger) Error(msg string, tags ...tag.Tag)  { l.write(slog.LevelError, msg, tags) }
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) { l.write(slog.LevelError, msg, tags) }

// Panic and Fatal keep the contract the server relies on: they do not return.
func (l serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.write(slog.LevelError, msg, tags)
	panic(msg)
}

func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.write(slog.LevelError, msg, tags)
	os.Exit(1)
}

func (l serverLogger) With(tags ...tag.Tag) log.Logger {
	return serverLogger{log: l.log, stopping: l.stopping, tags: append(slices.Clip(l.tags), tags...)}
}

func (l serverLogger) write(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if level < slog.LevelError && l.stopping.Load() || !l.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(l.tags)+len(tags)+1)
	attrs = append(attrs, slog.String("component", "temporal"))
	for _, t := range slices.Concat(l.tags, tags) {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

package main

import (
	"log/slog"
	"os"
)

// newDemoLog logs only warnings and errors, so the demo's own output reads.
func newDemoLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

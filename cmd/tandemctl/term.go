package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// terminal is a tty in the mode top needs: no line buffering, no echo,
// reads that return within a tenth of a second; signals (Ctrl-C) still
// work. restore puts back the mode it found.
type terminal struct {
	fd  int
	old unix.Termios
}

// makeRaw switches f to top's mode; ok is false when f is not a terminal.
func makeRaw(f *os.File) (*terminal, bool) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, false
	}
	t := &terminal{fd: fd, old: *old}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO | unix.IEXTEN
	raw.Iflag &^= unix.IXON | unix.ICRNL
	raw.Cc[unix.VMIN] = 0
	raw.Cc[unix.VTIME] = 1
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, false
	}
	return t, true
}

func (t *terminal) restore() {
	_ = unix.IoctlSetTermios(t.fd, unix.TCSETS, &t.old)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// termWidth is f's width in columns, 100 when unknown.
func termWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 100
	}
	return int(ws.Col)
}

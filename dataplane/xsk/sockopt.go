package xsk

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// x/sys has typed helpers for neither the XDP structs nor the kick syscalls we
// need without allocation, so the few raw calls live here, and nowhere else.

func setsockoptUint32(fd, opt int, v uint32) error {
	return setsockoptPtr(fd, unix.SOL_XDP, opt, unsafe.Pointer(&v), unsafe.Sizeof(v))
}

func setsockoptPtr(fd, level, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockoptPtr(fd, level, opt int, p unsafe.Pointer, size uintptr) (uintptr, error) {
	l := uint32(size)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return uintptr(l), nil
}

// kickTx is sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0): it makes the kernel
// process the tx ring.
func kickTx(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// kickRx is recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL): it makes the
// kernel refill from the fill ring and process rx when need_wakeup asks.
func kickRx(fd int) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// pollIn waits up to timeoutMs for the socket to become readable.
func pollIn(fd int, timeoutMs int) (bool, unix.Errno) {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	n, _, e := unix.Syscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(timeoutMs))
	return n > 0, e
}

//go:build !linux

package conntrack

import "unsafe"

func adviseHuge(unsafe.Pointer, uintptr) {}

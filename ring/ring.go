package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"reflect"
)

// MaxCapacity is the largest capacity a ring accepts.
const MaxCapacity = 1 << 30

// ErrCapacity is returned (wrapped) by NewSPSC and NewMPSC when the capacity is
// not a power of two in [2, MaxCapacity].
var ErrCapacity = errors.New("capacity must be a power of two in [2, 2^30]")

// padSize separates data written by different cores. Cache lines are 64
// bytes, but some x86 cores (Intel's spatial prefetcher) fetch lines in
// aligned pairs, so 128 bytes is the distance at which two cores' writes
// surely stop interfering.
const padSize = 128

// checkCapacity validates a ring capacity; kind names the ring in the error.
func checkCapacity(kind string, capacity int) error {
	if capacity < 2 || capacity > MaxCapacity || bits.OnesCount(uint(capacity)) != 1 {
		return fmt.Errorf("creating %s ring with capacity %d: %w", kind, capacity, ErrCapacity)
	}
	return nil
}

// occupancy returns how many positions lie between head h and tail t, for
// Len. h must be loaded before t: tail never passes head+capacity and never
// goes back, so t-h does not wrap, but the consumer and producers may have
// moved between the two loads and t-h may exceed the capacity.
func occupancy(h, t uint64, capacity int) int {
	return int(min(t-h, uint64(capacity)))
}

// hasPointers reports whether values of type T contain pointers, in which case
// the consumer clears each slot it reads so that the ring does not keep the
// referenced memory alive. Values without pointers are left in place: clearing
// them would only cost a write.
func hasPointers[T any]() bool {
	return typeHasPointers(reflect.TypeFor[T]())
}

func typeHasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && typeHasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if typeHasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	default: // pointers, strings, slices, maps, channels, funcs, interfaces
		return true
	}
}

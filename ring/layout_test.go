package ring

import (
	"testing"
	"unsafe"
)

// TestLayout checks that the fields each side writes sit padSize bytes away
// from the other side's and from the read-only fields.
func TestLayout(t *testing.T) {
	var s SPSC[[3]uint64]
	var m MPSC[[3]uint64]
	for _, c := range []struct {
		name  string
		lines []uintptr // offsets of the first field of each region, in order
		size  uintptr
	}{
		{"SPSC", []uintptr{0, unsafe.Offsetof(s.head), unsafe.Offsetof(s.tail), unsafe.Offsetof(s.mask)}, unsafe.Sizeof(s)},
		{"MPSC", []uintptr{0, unsafe.Offsetof(m.head), unsafe.Offsetof(m.tail), unsafe.Offsetof(m.mask)}, unsafe.Sizeof(m)},
	} {
		offsets := append(c.lines, c.size)
		for i := 1; i < len(offsets); i++ {
			if gap := offsets[i] - offsets[i-1]; gap != padSize {
				t.Errorf("%s: region %d spans %d bytes, want %d (offsets %v)", c.name, i-1, gap, padSize, offsets)
			}
		}
	}
}

func TestHasPointers(t *testing.T) {
	type flat struct {
		_ [4]uint32
		_ float64 // fields give the type its shape; they are never read
		_ bool
	}
	type nested struct {
		_ flat
		_ string
	}
	for name, c := range map[string]struct{ got, want bool }{
		"uint64":     {hasPointers[uint64](), false},
		"flat":       {hasPointers[flat](), false},
		"[0]*int":    {hasPointers[[0]*int](), false},
		"[2]flat":    {hasPointers[[2]flat](), false},
		"*int":       {hasPointers[*int](), true},
		"string":     {hasPointers[string](), true},
		"[]byte":     {hasPointers[[]byte](), true},
		"any":        {hasPointers[any](), true},
		"nested":     {hasPointers[nested](), true},
		"[3]nested":  {hasPointers[[3]nested](), true},
		"map":        {hasPointers[map[int]int](), true},
		"chan":       {hasPointers[chan int](), true},
		"func":       {hasPointers[func()](), true},
		"unsafe.Ptr": {hasPointers[unsafe.Pointer](), true},
	} {
		if c.got != c.want {
			t.Errorf("hasPointers[%s]() = %v, want %v", name, c.got, c.want)
		}
	}
}

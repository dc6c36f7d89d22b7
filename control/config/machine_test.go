package config

import (
	"slices"
	"testing"
)

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		out  string
	}{
		{"0", []int{0}, "0"},
		{"0-1", []int{0, 1}, "0-1"},
		{"0-3,8,10-11", []int{0, 1, 2, 3, 8, 10, 11}, "0-3,8,10-11"},
		{"4,0-1", []int{0, 1, 4}, "0-1,4"},
	} {
		got, err := parseCPUList(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if s := formatCPUList(got); s != tc.out {
			t.Errorf("formatCPUList(%v) = %q, want %q", got, s, tc.out)
		}
	}
	for _, bad := range []string{"", "a", "1-", "3-1", "-1", "0,,1"} {
		if got, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) = %v, want an error", bad, got)
		}
	}
}

func TestHostMachine(t *testing.T) {
	m, err := HostMachine()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CPUs) == 0 || m.PageSize == 0 || m.HasInterface != nil {
		t.Fatalf("HostMachine() = %+v", m)
	}
	if !HostHasInterface("lo") {
		t.Error(`HostHasInterface("lo") = false`)
	}
	if HostHasInterface("tdm-no-such0") {
		t.Error(`HostHasInterface("tdm-no-such0") = true`)
	}
}

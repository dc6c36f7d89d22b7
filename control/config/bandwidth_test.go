package config

import (
	"strings"
	"testing"
)

func TestParseBandwidth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"0", 0},
		{"800Mbit", 800e6},
		{"800mbit", 800e6},
		{"800 Mbit", 800e6},
		{"1Gbit", 1e9},
		{"1.5Gbit", 1.5e9},
		{"10kbit/s", 10e3},
		{"2Tbit", 2e12},
		{"64bit", 64},
		{"100MB/s", 800e6},
		{"1GB/s", 8e9},
		{"1MiB/s", 8 << 20},
		{"512kB/s", 512e3 * 8},
		{"1KiB/s", 8 << 10},
		{"125B/s", 1000},
		{" 800Mbit ", 800e6},
	} {
		got, err := ParseBandwidth(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseBandwidthErrors(t *testing.T) {
	for _, tc := range []struct{ in, reason string }{
		{"", "not a bandwidth"},
		{"Mbit", "not a bandwidth"},
		{"800", "unit is missing"},
		{"800Mbps", "ambiguous"},
		{"800mbps", "ambiguous"},
		{"800Mb/s", "ambiguous"},
		{"100MB", "unknown unit"},
		{"100Mibt", "unknown unit"},
		{"100XB/s", "unknown unit"},
		{"1.2.3Mbit", "not a number"},
		{"99999999999999999999Tbit", "too large"},
		{"9999999999999Tbit", "too large"},
		{"-5Mbit", "not a bandwidth"},
		{"3000000000000000000EB/s", "too large"},
		{"3000PB/s", "too large"},
	} {
		got, err := ParseBandwidth(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want an error about %q", tc.in, got, err, tc.reason)
		}
	}
}

func TestFormatBandwidth(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want string
	}{{0, "0"}, {800e6, "800Mbit"}, {1e9, "1Gbit"}, {1500e6, "1500Mbit"}, {12345, "12345bit"}, {3e12, "3Tbit"}, {64e3, "64kbit"}} {
		if got := FormatBandwidth(tc.in); got != tc.want {
			t.Errorf("FormatBandwidth(%d) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := ParseBandwidth(FormatBandwidth(tc.in)); err != nil || back != tc.in {
			t.Errorf("ParseBandwidth(FormatBandwidth(%d)) = %d, %v", tc.in, back, err)
		}
	}
}

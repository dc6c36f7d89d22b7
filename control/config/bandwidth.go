package config

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// bitUnits are the bit-rate units, SI (powers of 1000), case-insensitive.
var bitUnits = map[string]uint64{
	"bit":  1,
	"kbit": 1e3,
	"mbit": 1e6,
	"gbit": 1e9,
	"tbit": 1e12,
}

// ParseBandwidth parses a rate into bits per second.
//
// Bit rates are a number and one of bit, kbit, Mbit, Gbit, Tbit (powers of
// 1000, any case, optionally followed by "/s"): "800Mbit", "1.5Gbit",
// "10kbit/s". Byte rates are a number, a byte unit with a capital B and "/s":
// "100MB/s", "1GiB/s", "512kB/s" (kB, MB, GB powers of 1000; KiB, MiB, GiB
// powers of 1024, as go-humanize's ParseBytes reads them); they are
// multiplied by 8. "0" alone is zero (the config reads it as "unlimited").
//
// "Mbps" and "Mb/s" are refused as ambiguous: most people mean megabits, tc
// reads "mbps" as megabytes.
func ParseBandwidth(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	n := 0
	for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.') {
		n++
	}
	num, unit := s[:n], strings.TrimSpace(s[n:])
	if num == "" {
		return 0, errors.New("not a bandwidth: want a number and a unit, e.g. 800Mbit, 1Gbit, 100MB/s")
	}
	if unit == "" {
		return 0, errors.New("the unit is missing: write e.g. 800Mbit or 100MB/s (0 alone means unlimited)")
	}
	lower := strings.ToLower(unit)
	if strings.HasSuffix(lower, "bps") || strings.HasSuffix(unit, "b/s") {
		return 0, fmt.Errorf("%q is ambiguous (megabits to most, megabytes to tc): write Mbit for bits or MB/s for bytes", unit)
	}
	if m, ok := bitUnits[strings.TrimSuffix(lower, "/s")]; ok {
		return scale(num, m)
	}
	byteUnit, perSecond := strings.CutSuffix(unit, "/s")
	if !perSecond || !strings.HasSuffix(byteUnit, "B") {
		return 0, fmt.Errorf("unknown unit %q: want bit, kbit, Mbit, Gbit, Tbit, or B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s", unit)
	}
	bytes, err := humanize.ParseBytes(num + byteUnit)
	if err != nil && strings.HasPrefix(err.Error(), "too large") {
		return 0, errors.New("too large")
	}
	if err != nil {
		return 0, fmt.Errorf("unknown unit %q: want bit, kbit, Mbit, Gbit, Tbit, or B/s, kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s", unit)
	}
	hi, v := bits.Mul64(bytes, 8)
	if hi != 0 {
		return 0, errors.New("too large")
	}
	return v, nil
}

// scale is num × m, exact for whole numbers.
func scale(num string, m uint64) (uint64, error) {
	if !strings.Contains(num, ".") {
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return 0, errors.New("too large")
		}
		hi, lo := bits.Mul64(v, m)
		if hi != 0 {
			return 0, errors.New("too large")
		}
		return lo, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", num)
	}
	f = math.Round(f * float64(m))
	if f >= math.MaxUint64 {
		return 0, errors.New("too large")
	}
	return uint64(f), nil
}

// FormatBandwidth writes bits per second in the largest bit unit that
// divides the rate exactly: 800000000 is "800Mbit", 0 is "0".
func FormatBandwidth(bps uint64) string {
	if bps == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		m    uint64
	}{{"Tbit", 1e12}, {"Gbit", 1e9}, {"Mbit", 1e6}, {"kbit", 1e3}} {
		if bps%u.m == 0 {
			return strconv.FormatUint(bps/u.m, 10) + u.name
		}
	}
	return strconv.FormatUint(bps, 10) + "bit"
}

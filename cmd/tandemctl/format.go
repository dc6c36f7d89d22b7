package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" || s == "0" {
		return "-"
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return humanize.Comma(int64(n)) + " " + noun + "s"
}

func percent(part, whole float64) string {
	if whole <= 0 {
		return "-"
	}
	return humanize.FormatFloat("#.#", 100*part/whole) + "%"
}

// fmtDuration writes a duration to three significant figures: 1.23ms,
// 45.6s, 2h3m.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return trimFloat(float64(d)/1e3) + "µs"
	case d < time.Second:
		return trimFloat(float64(d)/1e6) + "ms"
	case d < time.Minute:
		return trimFloat(float64(d)/1e9) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3g", v)
	if strings.Contains(s, "e") {
		s = fmt.Sprintf("%.0f", v)
	}
	return s
}

// fmtBits writes a rate in bits per second with an SI prefix.
func fmtBits(bps float64) string {
	v, unit := humanize.ComputeSI(bps)
	return trimFloat(v) + " " + unit + "bit/s"
}

// fmtRate writes a count per second with an SI prefix: 1.2M.
func fmtRate(v float64) string {
	x, unit := humanize.ComputeSI(v)
	return trimFloat(x) + unit
}

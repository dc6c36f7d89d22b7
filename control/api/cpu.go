package api

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cpuTimes is one core's line of /proc/stat: its number, and its busy and
// total jiffies.
type cpuTimes struct {
	cpu         int
	busy, total uint64
}

// readCPUTimes reads the per-core lines ("cpuN ...") of /proc/stat.
func readCPUTimes(path string) ([]cpuTimes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []cpuTimes
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.HasPrefix(fields[0], "cpu") || fields[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(fields[0][3:])
		if err != nil {
			continue
		}
		ct := cpuTimes{cpu: n}
		// user nice system idle iowait irq softirq steal; guest time is
		// already counted in user and nice.
		for i, s := range fields[1:min(len(fields), 9)] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, fields[0], err)
			}
			ct.total += v
			if i != 3 && i != 4 { // idle, iowait
				ct.busy += v
			}
		}
		out = append(out, ct)
	}
	return out, sc.Err()
}

// cpuUsage is the busy fraction of each core between two readings.
func cpuUsage(prev, cur []cpuTimes) []CPU {
	old := make(map[int]cpuTimes, len(prev))
	for _, p := range prev {
		old[p.cpu] = p
	}
	out := make([]CPU, 0, len(cur))
	for _, c := range cur {
		p, ok := old[c.cpu]
		if !ok || c.total <= p.total || c.busy < p.busy {
			out = append(out, CPU{CPU: c.cpu})
			continue
		}
		out = append(out, CPU{CPU: c.cpu, Busy: float64(c.busy-p.busy) / float64(c.total-p.total)})
	}
	return out
}

package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is what every *ValidationError matches with errors.Is: the file
// was read but its content is refused.
var ErrInvalid = errors.New("invalid config")

// Problem is one reason a config is refused.
type Problem struct {
	Key    string // key path, e.g. "cores.workers[0].core"; empty for a syntax error outside any key
	Value  string // the offending value as written (strings quoted), or empty
	Reason string // why it is refused
	Line   int    // line in the file, where the TOML decoder gave one; 0 otherwise
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	writeKeyValue(&b, p.Key, p.Value)
	b.WriteString(p.Reason)
	return b.String()
}

// Warning is something the daemon logs and then starts anyway: a setting
// that works but is probably not what the operator wants.
type Warning struct {
	Key    string
	Value  string
	Reason string
}

func (w Warning) String() string {
	var b strings.Builder
	writeKeyValue(&b, w.Key, w.Value)
	b.WriteString(w.Reason)
	return b.String()
}

func writeKeyValue(b *strings.Builder, key, value string) {
	if key != "" {
		b.WriteString(key)
		if value != "" {
			b.WriteString(" = ")
			b.WriteString(value)
		}
		b.WriteString(": ")
	} else if value != "" {
		b.WriteString(value)
		b.WriteString(": ")
	}
}

// ValidationError lists every problem found in one pass over a config.
// Errors from the TOML decoder (syntax, unknown keys, wrong types) are
// converted into the same type, with their line numbers.
type ValidationError struct {
	Source   string // file name, or empty
	Problems []Problem
}

// Error lists the problems one per line, after a header line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("config")
	if e.Source != "" {
		b.WriteString(" ")
		b.WriteString(e.Source)
	}
	switch n := len(e.Problems); n {
	case 1:
		b.WriteString(": 1 problem")
	default:
		fmt.Fprintf(&b, ": %d problems", n)
	}
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Has reports whether one of the problems is about key (exactly).
func (e *ValidationError) Has(key string) bool {
	for _, p := range e.Problems {
		if p.Key == key {
			return true
		}
	}
	return false
}

// report collects problems and warnings during one validation pass.
type report struct {
	problems []Problem
	warnings []Warning
}

func (r *report) bad(key string, value any, format string, args ...any) {
	r.problems = append(r.problems, Problem{Key: key, Value: show(value), Reason: fmt.Sprintf(format, args...)})
}

func (r *report) warn(key string, value any, format string, args ...any) {
	r.warnings = append(r.warnings, Warning{Key: key, Value: show(value), Reason: fmt.Sprintf(format, args...)})
}

func (r *report) err(source string) error {
	if len(r.problems) == 0 {
		return nil
	}
	return &ValidationError{Source: source, Problems: r.problems}
}

// show renders a value the way it is written in TOML: strings quoted,
// numbers and booleans bare, values written as strings as they were written.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return strconv.Quote(v)
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	case textValue:
		return strconv.Quote(v.written())
	case []int:
		parts := make([]string, len(v))
		for i, n := range v {
			parts[i] = strconv.Itoa(n)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case fmt.Stringer:
		return strconv.Quote(v.String())
	}
	return fmt.Sprint(v)
}

// key joins key path parts: key("cores", "workers") is "cores.workers".
// A part that is not a bare TOML key is quoted.
func key(parts ...string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		if isBareKey(p) {
			b.WriteString(p)
		} else {
			b.WriteString(strconv.Quote(p))
		}
	}
	return b.String()
}

// index appends an array index to a key path: index("peers", 0) is "peers[0]".
func index(k string, i int) string {
	return k + "[" + strconv.Itoa(i) + "]"
}

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Option changes how Parse reads a file.
type Option func(*options)

type options struct {
	source string
}

// WithSource names the file in error messages ("config gw1.toml: ...").
func WithSource(name string) Option {
	return func(o *options) { o.source = name }
}

// Parse decodes a TOML config, fills in its defaults and validates it
// against m. A file that cannot be decoded (bad syntax, an unknown key, a
// value of the wrong TOML type) and a file that decodes but is refused both
// give a *ValidationError; the warnings are returned with a valid config.
func Parse(data []byte, m Machine, opts ...Option) (*Config, []Warning, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, nil, decodeError(o.source, data, err) // syntax
	}
	c := Defaults()
	err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&c)
	var strict *toml.StrictMissingError
	errors.As(err, &strict)
	if unknown := unknownKeys(data, doc, strict); len(unknown) > 0 {
		return nil, nil, &ValidationError{Source: o.source, Problems: unknown}
	}
	if err != nil {
		return nil, nil, decodeError(o.source, data, err)
	}
	c.applyDefaults()
	r := c.validate(m)
	if err := r.err(o.source); err != nil {
		return nil, r.warnings, err
	}
	return &c, r.warnings, nil
}

// Load reads the file at path and parses it against the running machine,
// interfaces included: it is what the daemon calls at start.
func Load(path string) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	m, err := HostMachine()
	if err != nil {
		return nil, nil, err
	}
	m.HasInterface = HostHasInterface
	return Parse(data, m, WithSource(path))
}

// Check validates the file at path against m without starting anything, for
// tandemd -check: it writes "config OK" and the warnings, or the problems,
// to w and returns the error.
func Check(path string, m Machine, w io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(w, "%s: %v\n", path, err)
		return fmt.Errorf("reading config: %w", err)
	}
	_, warnings, err := Parse(data, m, WithSource(path))
	if err != nil {
		fmt.Fprintln(w, err)
	} else {
		fmt.Fprintf(w, "%s: config OK\n", path)
	}
	for _, wa := range warnings {
		fmt.Fprintf(w, "warning: %s\n", wa)
	}
	return err
}

// Validate checks a Config against m and returns its warnings, or a
// *ValidationError listing every problem. It does not fill in defaults.
func (c *Config) Validate(m Machine) ([]Warning, error) {
	r := c.validate(m)
	return r.warnings, r.err("")
}

// decodeError converts go-toml's errors into a *ValidationError.
func decodeError(source string, data []byte, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		ve := &ValidationError{Source: source}
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, _ := de.Position()
			ve.Problems = append(ve.Problems, Problem{
				Key:    key(de.Key()...),
				Reason: "unknown key",
				Line:   line,
			})
		}
		return ve
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return &ValidationError{Source: source, Problems: []Problem{{
			Key:    key(de.Key()...),
			Value:  lineValue(data, line, de.Key()),
			Reason: decodeReason(de.Error()),
			Line:   line,
		}}}
	}
	return &ValidationError{Source: source, Problems: []Problem{{Reason: strings.TrimPrefix(err.Error(), "toml: ")}}}
}

// mismatch matches go-toml's type mismatch messages.
var mismatch = regexp.MustCompile(`^cannot decode TOML ([a-z ]+) into (?:struct field \S+ of type )?(\S+)$`)

// decodeReason rewrites go-toml's type mismatch message in the file's
// terms: "cannot decode TOML string into struct field config.Member.ID of
// type int" is "wrong type: want an integer, not a string".
func decodeReason(msg string) string {
	msg = strings.TrimPrefix(msg, "toml: ")
	sm := mismatch.FindStringSubmatch(msg)
	if sm == nil {
		return msg
	}
	got := strings.TrimPrefix(sm[1], "inline ")
	var want string
	switch t := sm[2]; {
	case strings.HasPrefix(t, "[]"):
		want = "an array"
	case strings.HasPrefix(t, "map["):
		want = "a table"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		want = "an integer"
	case t == "bool":
		want = "true or false"
	case t == "string" || stringTypes[strings.TrimPrefix(t, "config.")]:
		want = "a string"
	case strings.HasPrefix(t, "config."):
		want = "a table"
	default:
		return msg
	}
	article := "a "
	if strings.ContainsAny(got[:1], "aeiou") {
		article = "an "
	}
	return "wrong type: want " + want + ", not " + article + got
}

// stringTypes are the schema's types written as TOML strings.
var stringTypes = map[string]bool{
	"Role": true, "Side": true, "Protocol": true, "Duration": true, "Bandwidth": true,
	"Addr": true, "Prefix": true, "PortRange": true, "AddrRange": true,
}

// lineValue is the value part of line n (1-based) of data when it reads
// "k = value" with k the last part of the key: what the decoder refused,
// for the message.
func lineValue(data []byte, n int, k toml.Key) string {
	if n < 1 || len(k) == 0 {
		return ""
	}
	lines := bytes.SplitN(data, []byte("\n"), n+1)
	if len(lines) < n {
		return ""
	}
	before, v, ok := strings.Cut(string(lines[n-1]), "=")
	if !ok || strings.Trim(strings.TrimSpace(before), `"'`) != k[len(k)-1] && !strings.HasSuffix(strings.TrimSpace(before), "."+k[len(k)-1]) {
		return ""
	}
	v = strings.TrimSpace(v)
	if len(v) > 80 {
		v = v[:77] + "..."
	}
	return v
}

package config

import (
	"encoding"
	"reflect"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// go-toml refuses a key the schema lacks (DisallowUnknownFields) but names
// it without the array indexes ("cores.workers.cpu" for a key inside
// cores.workers[0]), and it matches keys to fields ignoring case, so that
// "Priority" would set member.priority and a file with both would keep one
// silently. unknownKeys walks the decoded document beside the schema
// instead: it names every unknown key by its full path and refuses keys
// that differ from the schema's only in case.

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// unknownKeys returns a problem for every key of doc that is not in the
// schema; lines come from go-toml's strict errors where it has them.
func unknownKeys(data []byte, doc map[string]any, strict *toml.StrictMissingError) []Problem {
	var out []Problem
	walkKeys(doc, reflect.TypeFor[Config](), "", &out)
	used := make([]bool, 0)
	if strict != nil {
		used = make([]bool, len(strict.Errors))
	}
	for i := range out {
		last := lastPart(out[i].Key)
		if strict != nil {
			for j := range strict.Errors {
				k := strict.Errors[j].Key()
				if !used[j] && len(k) > 0 && k[len(k)-1] == last {
					used[j] = true
					out[i].Line, _ = strict.Errors[j].Position()
					break
				}
			}
		}
		if out[i].Line == 0 {
			out[i].Line = findKeyLine(data, last)
		}
	}
	return out
}

func walkKeys(v any, t reflect.Type, path string, out *[]Problem) {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return // a type mismatch: go-toml reports it
		}
		for _, k := range sortedKeys(m) {
			kp := join(path, key(k))
			f, exact := fieldByTag(t, k)
			switch {
			case f == nil:
				*out = append(*out, Problem{Key: kp, Reason: "unknown key"})
			case !exact:
				*out = append(*out, Problem{Key: kp, Reason: "unknown key: keys are case-sensitive, did you mean " + f.Tag.Get("toml") + "?"})
			default:
				walkKeys(m[k], f.Type, kp, out)
			}
		}
	case reflect.Map:
		if m, ok := v.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				walkKeys(m[k], t.Elem(), join(path, key(k)), out)
			}
		}
	case reflect.Slice:
		switch s := v.(type) {
		case []any:
			for i, e := range s {
				walkKeys(e, t.Elem(), index(path, i), out)
			}
		case []map[string]any: // arrays of tables
			for i, e := range s {
				walkKeys(e, t.Elem(), index(path, i), out)
			}
		}
	}
}

// fieldByTag finds the field with TOML key k, or failing that the field
// whose key differs from k only in case (exact is then false).
func fieldByTag(t reflect.Type, k string) (f *reflect.StructField, exact bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("toml")
		if tag == k {
			return &sf, true
		}
		if strings.EqualFold(tag, k) && f == nil {
			f = &sf
		}
	}
	return f, false
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// lastPart is the last key of a path, unquoted: "workers[0].cpu" is "cpu".
func lastPart(path string) string {
	i := strings.LastIndexByte(path, '.')
	if strings.HasSuffix(path, `"`) {
		i = strings.LastIndex(path[:len(path)-1], `"`) - 1
	}
	p := path[i+1:]
	if strings.HasPrefix(p, `"`) {
		p = strings.Trim(p, `"`)
	}
	return p
}

// findKeyLine is the first line where key is set or opens a table, or 0.
func findKeyLine(data []byte, k string) int {
	re, err := regexp.Compile(`(^|[\s.{,\[])"?` + regexp.QuoteMeta(k) + `"?\s*(=|\]|\.)`)
	if err != nil {
		return 0
	}
	for i, line := range strings.Split(string(data), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		if re.MatchString(line) {
			return i + 1
		}
	}
	return 0
}

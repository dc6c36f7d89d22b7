package config

import (
	"bytes"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// fourCores is the machine example.toml is written for.
var fourCores = Machine{CPUs: []int{0, 1, 2, 3}, PageSize: 4096, HasInterface: func(string) bool { return true }}

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("example.toml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestExampleIsValid(t *testing.T) {
	c, warnings, err := Parse(readExample(t), fourCores, WithSource("example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if c.Member.Name != "gw1" || len(c.Cores.Workers) != 2 || c.Sync.MaxBandwidth.BitsPerSecond != 800e6 || len(c.NAT.Forward) != 1 || len(c.Policy.Allow) != 1 {
		t.Errorf("example parsed as %+v", c)
	}
}

// Every key of the schema is set in example.toml, so the example, which
// documents the keys, never falls behind the code.
func TestExampleHasEveryKey(t *testing.T) {
	var doc map[string]any
	if err := toml.Unmarshal(readExample(t), &doc); err != nil {
		t.Fatal(err)
	}
	var missing []string
	schemaKeys(reflect.TypeFor[Config](), "", func(path string, present func(map[string]any) bool) {
		if !present(doc) {
			missing = append(missing, path)
		}
	})
	if len(missing) > 0 {
		t.Errorf("example.toml lacks %v", missing)
	}
}

// schemaKeys calls f for every key of the schema under t, with a function
// that says whether a document sets it (in at least one element of an
// array of tables or one entry of a map of tables).
func schemaKeys(t reflect.Type, path string, f func(string, func(map[string]any) bool)) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("toml")
		p := join(path, tag)
		f(p, func(doc map[string]any) bool { return len(lookup(doc, p)) > 0 })
		ft := sf.Type
		switch {
		case reflect.PointerTo(ft).Implements(textUnmarshaler):
		case ft.Kind() == reflect.Struct:
			schemaKeys(ft, p, f)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !reflect.PointerTo(ft.Elem()).Implements(textUnmarshaler):
			schemaKeys(ft.Elem(), p+"[]", f)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			schemaKeys(ft.Elem(), p+".*", f)
		}
	}
}

// lookup returns every value at path in doc; "[]" steps into each element
// of an array, "*" into each entry of a table.
func lookup(doc any, path string) []any {
	vals := []any{doc}
	for _, part := range splitPath(path) {
		var next []any
		for _, v := range vals {
			switch part {
			case "*":
				if m, ok := v.(map[string]any); ok {
					for _, e := range m {
						next = append(next, e)
					}
				}
			case "[]":
				switch s := v.(type) {
				case []any:
					next = append(next, s...)
				case []map[string]any:
					for _, e := range s {
						next = append(next, e)
					}
				}
			default:
				if m, ok := v.(map[string]any); ok {
					if e, ok := m[part]; ok {
						next = append(next, e)
					}
				}
			}
		}
		vals = next
	}
	return vals
}

func splitPath(path string) []string {
	var parts []string
	for _, p := range bytes.Split([]byte(path), []byte(".")) {
		s := string(p)
		if base, ok := bytes.CutSuffix(p, []byte("[]")); ok {
			parts = append(parts, string(base), "[]")
			continue
		}
		parts = append(parts, s)
	}
	return parts
}

func TestSchemaKeysWalk(t *testing.T) {
	var paths []string
	schemaKeys(reflect.TypeFor[Config](), "", func(p string, _ func(map[string]any) bool) { paths = append(paths, p) })
	for _, want := range []string{"member.id", "interfaces.*.queues", "cores.workers[].queues", "peers[].address", "nat.forward[].to_port", "policy.allow[].ports", "conntrack.timeouts.icmp", "busy_poll.spin_when_idle", "metrics.listen"} {
		if !slices.Contains(paths, want) {
			t.Errorf("schemaKeys lacks %s", want)
		}
	}
	doc := map[string]any{"a": []map[string]any{{"b": 1}, {"c": 2}}, "m": map[string]any{"x": map[string]any{"k": 1}}}
	if n := len(lookup(doc, "a[].c")); n != 1 {
		t.Errorf("lookup a[].c: %d values", n)
	}
	if n := len(lookup(doc, "m.*.k")); n != 1 {
		t.Errorf("lookup m.*.k: %d values", n)
	}
	if n := len(lookup(doc, "m.*.z")); n != 0 {
		t.Errorf("lookup m.*.z: %d values", n)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(DefaultTOML(), gw1TOML) {
		t.Error("DefaultTOML is not gw1.toml")
	}
	for _, tc := range []struct {
		member               int
		inside, outside, syn string
		peer                 string
	}{
		{1, "10.77.1.2/24", "10.77.2.2/24", "10.77.3.1", "10.77.3.2"},
		{2, "10.77.1.3/24", "10.77.2.3/24", "10.77.3.2", "10.77.3.1"},
	} {
		c, err := DefaultFor(tc.member)
		if err != nil {
			t.Fatal(err)
		}
		if c.Member.ID != tc.member || c.Interfaces["in0"].Addresses[0].String() != tc.inside || c.Interfaces["out0"].Addresses[0].String() != tc.outside ||
			c.Sync.Address.String() != tc.syn || c.Peers[0].Address.String() != tc.peer || c.Peers[0].ID != 3-tc.member {
			t.Errorf("gw%d: %+v", tc.member, c)
		}
		if c.Interfaces["in0"].Queues != 2 || c.Interfaces["out0"].Queues != 2 || c.Interfaces["sync0"].Queues != 1 {
			t.Errorf("gw%d queues: %+v", tc.member, c.Interfaces)
		}
		var vips []string
		for _, name := range []string{"in0", "out0"} {
			for _, v := range c.HA.VIPs[name] {
				vips = append(vips, v.String())
			}
		}
		sort.Strings(vips)
		if !slices.Equal(vips, []string{"10.77.1.1", "10.77.2.1", "fd77:1::1", "fd77:2::1"}) {
			t.Errorf("gw%d VIPs %v", tc.member, vips)
		}
		if !c.NAT.Enabled || c.NAT.PreservePorts || c.NAT.Ports != Ports(20000, 59999) || c.NAT.SNAT[0].written() != "10.77.2.100" {
			t.Errorf("gw%d NAT %+v", tc.member, c.NAT)
		}
		if c.Cores.ControlPlane != 0 || c.Cores.SyncWorker != 1 || len(c.Cores.Workers) != 1 || c.Cores.Workers[0].Core != 1 {
			t.Errorf("gw%d cores %+v", tc.member, c.Cores)
		}
		// On the lab's 2-core machine the only warning is the missing key file.
		w, err := c.Validate(twoCores)
		if err != nil || len(w) != 1 || w[0].Key != "sync.key_file" {
			t.Errorf("gw%d on 2 cores: %v, %v", tc.member, w, err)
		}
		// The lab's gateways need two cores.
		if _, err := c.Validate(Machine{CPUs: []int{0}}); err == nil {
			t.Errorf("gw%d validates on one core", tc.member)
		}
	}
	if c.Member.Name != "gw1" {
		t.Errorf("Default is %s", c.Member.Name)
	}
	if _, err := DefaultFor(3); err == nil {
		t.Error("DefaultFor(3) succeeded")
	}
}

// The "default:" noted beside each key of example.toml is the default the
// code applies.
func TestExampleDefaults(t *testing.T) {
	defaults := reflect.ValueOf(Defaults())
	var table []string // current [table] path; nil inside [[arrays]]
	pending := ""      // a "default:" from the comment block above a key
	checked := 0
	for n, line := range strings.Split(string(readExample(t)), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[["):
			table, pending = nil, ""
		case strings.HasPrefix(line, "["):
			table, pending = strings.Split(strings.Trim(line, "[]"), "."), ""
		case strings.HasPrefix(line, "#"):
			if _, d, ok := strings.Cut(line, "default: "); ok {
				pending = d
			}
		case line == "":
		default:
			k, rest, ok := strings.Cut(line, "=")
			if !ok || table == nil {
				pending = ""
				continue
			}
			def := pending
			if _, d, ok := strings.Cut(rest, "# default: "); ok {
				def = d
			}
			pending = ""
			lit := defaultLiteral(def)
			if lit == "" {
				continue
			}
			f, ok := fieldAt(defaults, append(slices.Clone(table), strings.TrimSpace(k)))
			if !ok {
				t.Errorf("example.toml:%d: no field for %s", n+1, k)
				continue
			}
			holder := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "V", Type: f.Type(), Tag: `toml:"v"`}}))
			if err := toml.Unmarshal([]byte("v = "+lit), holder.Interface()); err != nil {
				t.Errorf("example.toml:%d: default %s: %v", n+1, lit, err)
				continue
			}
			if got := holder.Elem().Field(0).Interface(); !reflect.DeepEqual(got, f.Interface()) {
				t.Errorf("example.toml:%d: %s documents default %s, the code has %v", n+1, strings.TrimSpace(k), lit, f.Interface())
			}
			checked++
		}
	}
	if checked < 35 {
		t.Errorf("only %d documented defaults checked", checked)
	}
}

// defaultLiteral is the TOML literal at the start of a "default:" note, or
// "" when the note is prose ("none", "the sync interface's ...") or a
// pattern ("member<id>").
func defaultLiteral(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) {
		if end := strings.Index(s[1:], `"`); end >= 0 && !strings.Contains(s[:end+2], "<") {
			return s[:end+2]
		}
		return ""
	}
	word, _, _ := strings.Cut(s, " ")
	if word == "true" || word == "false" || word != "" && word[0] >= '0' && word[0] <= '9' {
		return word
	}
	return ""
}

// fieldAt follows TOML keys through the structs of v.
func fieldAt(v reflect.Value, keys []string) (reflect.Value, bool) {
	for _, k := range keys {
		if v.Kind() != reflect.Struct {
			return v, false
		}
		f, exact := fieldByTag(v.Type(), k)
		if f == nil || !exact {
			return v, false
		}
		v = v.FieldByIndex(f.Index)
	}
	return v, true
}

// docs/config.md names every key of the schema.
func TestDocsNameEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Skip("docs/config.md is not beside this package:", err)
	}
	schemaKeys(reflect.TypeFor[Config](), "", func(path string, _ func(map[string]any) bool) {
		parts := splitPath(path)
		last := parts[len(parts)-1]
		if last == "[]" || last == "*" {
			return
		}
		// a key in code (`key`), a table header ([table]) or an example (key = ...)
		if !bytes.Contains(doc, []byte(last+"`")) && !bytes.Contains(doc, []byte(last+"]")) && !bytes.Contains(doc, []byte(last+" =")) {
			t.Errorf("docs/config.md does not name %s", path)
		}
	})
}

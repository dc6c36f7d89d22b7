package api_test

import (
	"reflect"
	"testing"

	"github.com/tandem-gw/tandem/control/api"
	"github.com/tandem-gw/tandem/syncpath"
)

// TestSyncFieldsCoverEveryCounter: a field added to syncpath.Counters must
// get a syncstat row and a metric here.
func TestSyncFieldsCoverEveryCounter(t *testing.T) {
	listed := map[string]bool{}
	for _, f := range api.SyncFields {
		if listed[f.Path] {
			t.Errorf("%s listed twice", f.Path)
		}
		listed[f.Path] = true
		if f.Metric == "" || f.Label == "" || f.Help == "" {
			t.Errorf("%s: label %q, metric %q, help %q: all needed", f.Path, f.Label, f.Metric, f.Help)
		}
	}
	var walk func(prefix string, tt reflect.Type)
	n := 0
	walk = func(prefix string, tt reflect.Type) {
		for i := range tt.NumField() {
			f := tt.Field(i)
			if f.Type.Kind() == reflect.Struct {
				walk(prefix+f.Name+".", f.Type)
				continue
			}
			n++
			if !listed[prefix+f.Name] {
				t.Errorf("syncpath.Counters.%s%s has no SyncField: syncstat would not show it and no metric would carry it", prefix, f.Name)
			}
		}
	}
	walk("", reflect.TypeFor[syncpath.Counters]())
	if n != len(api.SyncFields) {
		t.Errorf("%d fields in syncpath.Counters, %d SyncFields", n, len(api.SyncFields))
	}
}

func TestSyncFieldValue(t *testing.T) {
	c := syncpath.Counters{FramesSent: 7, PeerAlive: true, RTT: 9}
	c.Rejected.StaleEpoch = 3
	want := map[string]float64{"FramesSent": 7, "PeerAlive": 1, "RTT": 9, "Rejected.StaleEpoch": 3, "Abandoned": 0}
	for _, f := range api.SyncFields {
		if w, ok := want[f.Path]; ok && f.Value(&c) != w {
			t.Errorf("%s = %v, want %v", f.Path, f.Value(&c), w)
		}
		if f.Path == "Rejected.StaleEpoch" && (f.Reason != "stale_epoch" || f.Metric != "tandem_sync_frames_rejected_total") {
			t.Errorf("stale epoch field %+v", f)
		}
	}
}

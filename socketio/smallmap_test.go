package socketio

import (
	"fmt"
	"maps"
	"testing"
)

// TestSmallMap checks smallMap against a Go map through sets, replacements
// and deletions across the switch to a map.
func TestSmallMap(t *testing.T) {
	var sm smallMap[string, int]
	want := map[string]int{}
	check := func(step string) {
		t.Helper()
		if sm.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, sm.len(), len(want))
		}
		got := maps.Collect(sm.all)
		if !maps.Equal(got, want) {
			t.Fatalf("%s: entries %v, want %v", step, got, want)
		}
		for k, v := range want {
			if g, ok := sm.get(k); !ok || g != v {
				t.Fatalf("%s: get(%q) = %d, %v; want %d", step, k, g, ok, v)
			}
		}
		if _, ok := sm.get("absent"); ok {
			t.Fatalf("%s: absent key found", step)
		}
	}
	check("empty")
	for i := range 2 * smallMapMax {
		k := fmt.Sprint("k", i)
		sm.set(k, i)
		want[k] = i
		sm.set(k, i*10) // replace
		want[k] = i * 10
		if i%3 == 0 {
			sm.del(fmt.Sprint("k", i/2))
			delete(want, fmt.Sprint("k", i/2))
		}
		check(fmt.Sprint("after ", k))
	}
	sm.del("absent")
	for k := range want {
		sm.del(k)
		delete(want, k)
	}
	check("all deleted")
	// Stopping early.
	var small smallMap[string, int]
	small.set("a", 1)
	small.set("b", 2)
	n := 0
	for range small.all {
		n++
		break
	}
	if n != 1 {
		t.Fatalf("iteration did not stop")
	}
}

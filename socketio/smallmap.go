package socketio

// smallMapMax is the number of entries past which a smallMap becomes a Go
// map: below it, a linear search over short keys is as fast as hashing.
const smallMapMax = 16

// smallMap holds the few entries a client or socket usually has (its
// namespaces, its event handlers) in a slice searched in order: at one or
// two entries it costs a tenth of the memory of a Go map, whose smallest
// table is a group of eight slots. Past smallMapMax entries it moves them
// into a map. The zero value is empty and ready; it is not safe for
// concurrent use.
type smallMap[K comparable, V any] struct {
	pairs []smallPair[K, V]
	m     map[K]V
}

type smallPair[K comparable, V any] struct {
	k K
	v V
}

// get returns the value of k and whether it is there.
func (sm *smallMap[K, V]) get(k K) (V, bool) {
	if sm.m != nil {
		v, ok := sm.m[k]
		return v, ok
	}
	for i := range sm.pairs {
		if sm.pairs[i].k == k {
			return sm.pairs[i].v, true
		}
	}
	var zero V
	return zero, false
}

// set sets the value of k.
func (sm *smallMap[K, V]) set(k K, v V) {
	if sm.m != nil {
		sm.m[k] = v
		return
	}
	for i := range sm.pairs {
		if sm.pairs[i].k == k {
			sm.pairs[i].v = v
			return
		}
	}
	if len(sm.pairs) < smallMapMax {
		if sm.pairs == nil {
			sm.pairs = make([]smallPair[K, V], 0, 1)
		}
		sm.pairs = append(sm.pairs, smallPair[K, V]{k, v})
		return
	}
	sm.m = make(map[K]V, len(sm.pairs)+1)
	for _, p := range sm.pairs {
		sm.m[p.k] = p.v
	}
	sm.m[k] = v
	sm.pairs = nil
}

// del removes k.
func (sm *smallMap[K, V]) del(k K) {
	if sm.m != nil {
		delete(sm.m, k)
		return
	}
	for i := range sm.pairs {
		if sm.pairs[i].k == k {
			last := len(sm.pairs) - 1
			sm.pairs[i] = sm.pairs[last]
			sm.pairs[last] = smallPair[K, V]{}
			sm.pairs = sm.pairs[:last]
			return
		}
	}
}

// len returns the number of entries.
func (sm *smallMap[K, V]) len() int {
	if sm.m != nil {
		return len(sm.m)
	}
	return len(sm.pairs)
}

// all yields every entry, in no particular order.
func (sm *smallMap[K, V]) all(yield func(K, V) bool) {
	if sm.m != nil {
		for k, v := range sm.m {
			if !yield(k, v) {
				return
			}
		}
		return
	}
	for _, p := range sm.pairs {
		if !yield(p.k, p.v) {
			return
		}
	}
}

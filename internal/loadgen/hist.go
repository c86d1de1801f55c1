package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histSub is the number of sub-buckets per power of two: values are kept
// within 1/histSub (1.6%) of their true value.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histBuckets = histSub + (64-histSubBits)*histSub
)

// Histogram counts durations in log-linear buckets (HDR-like, 1.6%
// precision, exact below 64 ns) and keeps the exact maximum. Record is safe
// for concurrent use and does not allocate; histograms merge by adding
// bucket counts, so workers' histograms combine exactly.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
	total  atomic.Uint64
}

func histIndex(v int64) int {
	if v < histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - histSubBits - 1
	return histSub + e*histSub + int(uint64(v)>>uint(e)) - histSub
}

// histValue returns the midpoint of bucket i.
func histValue(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := (i - histSub) / histSub
	m := int64((i-histSub)%histSub + histSub)
	lo := m << uint(e)
	return lo + (int64(1)<<uint(e))/2
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max returns the largest duration recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the q-quantile (0 < q <= 1) by the nearest-rank method:
// the smallest recorded value with at least q of the values at or below it,
// within the histogram's precision and never above Max. It returns 0 when
// nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			v := histValue(i)
			if m := h.max.Load(); v > m {
				v = m
			}
			return time.Duration(v)
		}
	}
	return h.Max()
}

// Reset forgets everything recorded. It must not run concurrently with
// Record.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.max.Store(0)
	h.total.Store(0)
}

// histSnapshot is a histogram in transit: non-empty buckets as
// [index, count] pairs, and the maximum in nanoseconds.
type histSnapshot struct {
	Bins [][2]uint64 `json:"bins,omitempty"`
	Max  int64       `json:"max,omitempty"`
}

func (h *Histogram) snapshot() histSnapshot {
	var s histSnapshot
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			s.Bins = append(s.Bins, [2]uint64{uint64(i), c})
		}
	}
	s.Max = h.max.Load()
	return s
}

// merge adds a snapshot's counts to h.
func (h *Histogram) merge(s histSnapshot) {
	for _, b := range s.Bins {
		if b[0] < histBuckets {
			h.counts[b[0]].Add(b[1])
			h.total.Add(b[1])
		}
	}
	for {
		m := h.max.Load()
		if s.Max <= m || h.max.CompareAndSwap(m, s.Max) {
			return
		}
	}
}

// Percentiles summarises a latency distribution in milliseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (h *Histogram) percentiles() *Percentiles {
	if h.Count() == 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &Percentiles{Count: h.Count(), P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max())}
}

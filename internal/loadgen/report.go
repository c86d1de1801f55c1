package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes results as a table, one column per result.
func WriteTable(w io.Writer, results []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(*Result) string) {
		var b strings.Builder
		b.WriteString(name)
		b.WriteByte('\t')
		for _, r := range results {
			b.WriteString(f(r))
			b.WriteByte('\t')
		}
		b.WriteByte('\n')
		_, _ = io.WriteString(tw, b.String())
	}
	num := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	mib := func(v int64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	}
	row("", func(r *Result) string { return r.Label })
	row("scenario", func(r *Result) string { return r.Scenario + " (" + r.Transport + ")" })
	row("clients connected/asked", func(r *Result) string { return fmt.Sprintf("%d/%d", r.Connected, r.Clients) })
	row("workers", func(r *Result) string { return fmt.Sprint(max(r.Workers, 1)) })
	row("load receive path", func(r *Result) string {
		if r.Epoll {
			return "epoll"
		}
		return "goroutine per client"
	})
	row("connect time", func(r *Result) string { return fmt.Sprintf("%.2f s", r.ConnectSeconds) })
	row(opLabel(results), func(r *Result) string { return fmt.Sprint(r.Ops) })
	row("wall time", func(r *Result) string { return num(r.WallSeconds, "%.3f s") })
	row("per second", func(r *Result) string { return num(r.OpsPerSec, "%.0f") })
	row("server CPU per op", func(r *Result) string { return num(r.ServerCPUPerOpUS, "%.2f µs") })
	row("load CPU per op", func(r *Result) string { return num(r.LoadCPUPerOpUS, "%.2f µs") })
	row("server RSS base", func(r *Result) string { return mib(r.RSSBase) })
	row("server RSS idle", func(r *Result) string { return mib(r.RSSIdle) })
	row("server RSS peak", func(r *Result) string { return mib(r.RSSPeak) })
	row("server memory per conn", func(r *Result) string { return num(r.MemPerConn/1024, "%.2f KiB") })
	row("goroutines per conn", func(r *Result) string {
		if r.GoroutinesPerConn == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", *r.GoroutinesPerConn)
	})
	if hasFanout(results) {
		row("sent", func(r *Result) string { return fmt.Sprint(r.Sent) })
		row("received/expected", func(r *Result) string { return fmt.Sprintf("%d/%d", r.Received, r.Expected) })
		row("lost", func(r *Result) string { return fmt.Sprint(r.Lost) })
		row("duplicated", func(r *Result) string { return fmt.Sprint(r.Dup) })
		row("drained", func(r *Result) string {
			if !r.Drained {
				return "no"
			}
			return fmt.Sprintf("%.3f s after last send", r.DrainSeconds)
		})
	}
	row("latency p50", func(r *Result) string { return lat(r, func(p *Percentiles) float64 { return p.P50 }) })
	row("latency p99", func(r *Result) string { return lat(r, func(p *Percentiles) float64 { return p.P99 }) })
	row("latency max", func(r *Result) string { return lat(r, func(p *Percentiles) float64 { return p.Max }) })
	row("failed / closed", func(r *Result) string { return fmt.Sprintf("%d / %d", r.Failed, r.Closed) })
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, r := range results {
		if r.FirstErr != "" {
			fmt.Fprintf(w, "%s: first connection error: %s\n", r.Label, r.FirstErr)
		}
	}
	return nil
}

func lat(r *Result, f func(*Percentiles) float64) string {
	if r.Latency == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", f(r.Latency))
}

func opLabel(rs []*Result) string {
	for _, r := range rs {
		if r.OpName != "" {
			return r.OpName
		}
	}
	return "operations"
}

func hasFanout(rs []*Result) bool {
	for _, r := range rs {
		if r.Scenario == "fanout" || r.Scenario == "burst" {
			return true
		}
	}
	return false
}

// Command plotsvg draws the classifier's cost against rule count
// (BENCHMARKS.md, "Compiled chains") from go test -bench output: the
// engine's BenchmarkSets (SEED_genN/linear and /compiled) and the
// classifier's BenchmarkNext (SEED_genN), cpu-ns/op of each, and the
// kernel's cost per packet from internal/benchsets/kernelbench's
// TestKernelCost ("kernel SEED_genN BACKEND ... cpu-cost-ns=X" lines,
// both backends), on log scales.
// Usage: go run ./internal/benchsets/plotsvg BENCH.txt... > FILE.svg
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// series is one line of the plot: rule count to ns per packet (the
// median of the runs read).
type series map[int][]float64

var (
	setRe  = regexp.MustCompile(`^BenchmarkSets/(\w+)_gen(\d+)/(linear|compiled)-\d+\s`)
	nextRe = regexp.MustCompile(`^BenchmarkNext/(\w+)_gen(\d+)-\d+\s`)
	cpuRe  = regexp.MustCompile(`([0-9.]+) cpu-ns/op`)
	// kernelbench's summary line, one per set and backend.
	kernelRe = regexp.MustCompile(`^kernel (\w+)_gen(\d+) (legacy|nft) .*\bcpu-cost-ns=([0-9.]+)`)
)

func main() {
	lines := map[string]series{}
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		err = read(f, lines)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
	}
	fmt.Print(svg(lines))
}

// read adds the figures of one output file to lines, keyed "SEED KIND"
// (KIND linear, compiled, next() or kernel-BACKEND).
func read(r io.Reader, lines map[string]series) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := sc.Text()
		var key string
		var n int
		var v float64
		if c := cpuRe.FindStringSubmatch(l); c != nil {
			v, _ = strconv.ParseFloat(c[1], 64)
		}
		if m := kernelRe.FindStringSubmatch(l); m != nil {
			key, n = m[1]+" kernel-"+m[3], atoi(m[2])
			v, _ = strconv.ParseFloat(m[4], 64)
		} else if v == 0 {
			continue
		} else if m := setRe.FindStringSubmatch(l); m != nil {
			key, n = m[1]+" "+m[3], atoi(m[2])
		} else if m := nextRe.FindStringSubmatch(l); m != nil {
			key, n = m[1]+" next()", atoi(m[2])
		} else {
			continue
		}
		if lines[key] == nil {
			lines[key] = series{}
		}
		lines[key][n] = append(lines[key][n], v)
	}
	return sc.Err()
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func svg(lines map[string]series) string {
	const w, h, left, right, top, bottom = 720, 460, 70, 170, 20, 50
	xmin, xmax := math.Log10(1000), math.Log10(100000)
	ymin, ymax := math.Log10(10), math.Log10(1e7)
	x := func(n int) float64 { return left + (math.Log10(float64(n))-xmin)/(xmax-xmin)*(w-left-right) }
	y := func(v float64) float64 { return top + (ymax-math.Log10(v))/(ymax-ymin)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	for _, n := range []int{1000, 2000, 5000, 10000, 20000, 50000, 100000} {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%dk</text>`+"\n", x(n), top, x(n), h-bottom, x(n), h-bottom+16, n/1000)
	}
	for e := 1; e <= 7; e++ {
		v := math.Pow(10, float64(e))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left, y(v), w-right, y(v), left-6, y(v)+4, label(v))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">rules in the chain (ClassBench seeds grown, uniform trace)</text>`+"\n", (left+w-right)/2, h-10)
	fmt.Fprintf(&b, `<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">CPU ns per packet</text>`+"\n", (top+h-bottom)/2)
	colors := map[string]string{"acl1": "#1f77b4", "fw1": "#d62728", "ipc1": "#2ca02c"}
	dashes := map[string]string{"linear": "6,4", "compiled": "", "next()": "2,3", "kernel-legacy": "12,3,2,3", "kernel-nft": "12,3,2,3,2,3"}
	widths := map[string]string{"kernel-legacy": "1.2", "kernel-nft": "1.2"}
	var keys []string
	for k := range lines {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		seed, kind, _ := strings.Cut(k, " ")
		var ns []int
		for n := range lines[k] {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		var pts []string
		for _, n := range ns {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(n), y(median(lines[k][n]))))
		}
		width := widths[kind]
		if width == "" {
			width = "2"
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%s" stroke-dasharray="%s" points="%s"/>`+"\n", colors[seed], width, dashes[kind], strings.Join(pts, " "))
		ly := top + 14 + i*18
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%s" stroke-dasharray="%s"/><text x="%d" y="%d">%s</text>`+"\n", w-right+10, ly, w-right+40, ly, colors[seed], width, dashes[kind], w-right+46, ly+4, k)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func label(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gµs", v/1e3)
	}
	return fmt.Sprintf("%gns", v)
}

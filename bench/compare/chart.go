package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// panel is one bar chart: a title and one bar per server.
type panel struct {
	title  string
	unit   string
	labels []string
	values []float64 // NaN: not measured
}

var (
	colBG   = color.RGBA{255, 255, 255, 255}
	colText = color.RGBA{30, 30, 30, 255}
	colAxis = color.RGBA{160, 160, 160, 255}
	colBars = map[string]color.RGBA{
		"herald":  {46, 125, 50, 255},
		"node":    {66, 66, 180, 255},
		"zishang": {200, 110, 30, 255},
	}
)

// writeChart draws the panels side by side into a PNG file.
func writeChart(path, title string, panels []panel) error {
	const pw, ph, top = 300, 260, 40
	w := pw * len(panels)
	img := image.NewRGBA(image.Rect(0, 0, w, ph+top))
	draw.Draw(img, img.Bounds(), &image.Uniform{colBG}, image.Point{}, draw.Src)
	text(img, 10, 18, title)
	for i, p := range panels {
		drawPanel(img, image.Rect(i*pw, top, (i+1)*pw, top+ph), p)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("chart: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

func drawPanel(img *image.RGBA, r image.Rectangle, p panel) {
	text(img, r.Min.X+10, r.Min.Y+12, p.title)
	text(img, r.Min.X+10, r.Min.Y+26, p.unit)
	maxV := 0.0
	for _, v := range p.values {
		if !math.IsNaN(v) {
			maxV = math.Max(maxV, v)
		}
	}
	if maxV <= 0 {
		maxV = 1
	}
	x0, x1 := r.Min.X+20, r.Max.X-20
	y0, y1 := r.Min.Y+50, r.Max.Y-30 // plot area top and baseline
	fill(img, image.Rect(x0, y1, x1, y1+1), colAxis)
	n := len(p.values)
	slot := (x1 - x0) / max(n, 1)
	for i, v := range p.values {
		bx := x0 + i*slot + slot/6
		bw := slot * 2 / 3
		text(img, bx, y1+15, p.labels[i])
		if math.IsNaN(v) {
			text(img, bx, y1-5, "n/a")
			continue
		}
		h := int(float64(y1-y0) * v / maxV)
		c, ok := colBars[p.labels[i]]
		if !ok {
			c = color.RGBA{120, 120, 120, 255}
		}
		fill(img, image.Rect(bx, y1-h, bx+bw, y1), c)
		text(img, bx, y1-h-4, short(v))
	}
}

func short(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, &image.Uniform{c}, image.Point{}, draw.Src)
}

func text(img *image.RGBA, x, y int, s string) {
	s = strings.NewReplacer("µ", "u", "×", "x", "≤", "<=").Replace(s) // basicfont is ASCII
	d := &font.Drawer{Dst: img, Src: &image.Uniform{colText}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

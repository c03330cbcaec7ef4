package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// svg builds an SVG fragment. Text goes through text, which escapes it;
// everything else printed is numbers and fixed markup.
type svg struct{ strings.Builder }

func (s *svg) printf(format string, args ...any) { fmt.Fprintf(s, format, args...) }

// text writes an escaped text element at (x, y).
func (s *svg) text(x, y float64, class, anchor, t string) {
	s.printf(`<text class="%s" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`+"\n", class, x, y, anchor, html.EscapeString(t))
}

// chart is a plot area with linear axes from 0 to xMax and yMax.
type chart struct {
	w, h                     float64 // the whole SVG
	left, right, top, bottom float64 // margins around the plot area
	xMax, yMax               float64
	xLabel, yLabel           string
	xTick, yTick             func(float64) string
	yStep                    float64 // the least step between y ticks (1 for counts)
}

func (c chart) x(v float64) float64 { return c.left + v/c.xMax*(c.w-c.left-c.right) }
func (c chart) y(v float64) float64 { return c.h - c.bottom - v/c.yMax*(c.h-c.top-c.bottom) }

// open starts the SVG and draws the grid, the ticks and the axis labels.
func (c chart) open(s *svg, class, label string) {
	s.printf(`<svg class="%s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s">`+"\n",
		class, c.w, c.h, c.w, c.h, html.EscapeString(label))
	for _, v := range ticks(c.xMax, 0) {
		s.printf(`<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", c.x(v), c.y(0), c.x(v), c.y(c.yMax))
		s.text(c.x(v), c.y(0)+16, "tick", "middle", c.xTick(v))
	}
	for _, v := range ticks(c.yMax, c.yStep) {
		s.printf(`<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", c.x(0), c.y(v), c.x(c.xMax), c.y(v))
		s.text(c.x(0)-6, c.y(v)+4, "tick", "end", c.yTick(v))
	}
	s.printf(`<rect class="frame" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`+"\n",
		c.x(0), c.y(c.yMax), c.x(c.xMax)-c.x(0), c.y(0)-c.y(c.yMax))
	s.text((c.x(0)+c.x(c.xMax))/2, c.h-6, "axis", "middle", c.xLabel)
	s.printf(`<text class="axis" transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n",
		(c.y(0)+c.y(c.yMax))/2, html.EscapeString(c.yLabel))
}

// polyline draws points (in data units) with class, and a tooltip.
func (c chart) polyline(s *svg, class, attrs, title string, pts [][2]float64) {
	s.printf(`<polyline class="%s"%s points="`, class, attrs)
	for i, p := range pts {
		if i > 0 {
			s.WriteByte(' ')
		}
		s.printf("%.1f,%.1f", c.x(p[0]), c.y(p[1]))
	}
	s.printf(`"><title>%s</title></polyline>`+"\n", html.EscapeString(title))
}

// ticks returns round values from 0 to at most max, about five of them,
// at least minStep apart.
func ticks(max, minStep float64) []float64 {
	if !(max > 0) || math.IsInf(max, 0) {
		return []float64{0}
	}
	step := math.Pow(10, math.Floor(math.Log10(max/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if max/(step*m) <= 6 {
			step *= m
			break
		}
	}
	step = math.Max(step, minStep)
	var out []float64
	for v := 0.0; v <= max*(1+1e-9); v += step {
		out = append(out, v)
	}
	return out
}

// msLabel formats milliseconds for an axis or a table.
func msLabel(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0f s", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1f s", v/1000)
	case v >= 10 || v == 0:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// stepPoints turns values at times into the points of a step line that
// holds each value until the next time it changes and the last one until
// end.
func stepPoints(at, values []float64, end float64) [][2]float64 {
	var pts [][2]float64
	for i, v := range values {
		switch {
		case i == 0:
			pts = append(pts, [2]float64{at[i], v})
		case v != values[i-1]:
			pts = append(pts, [2]float64{at[i], values[i-1]}, [2]float64{at[i], v})
		}
	}
	if n := len(values); n > 0 && end > pts[len(pts)-1][0] {
		pts = append(pts, [2]float64{end, values[n-1]})
	}
	return pts
}

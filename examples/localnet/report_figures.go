package main

import (
	"fmt"
	"math"
	"strconv"
)

// graphFigure draws the peer graph: the nodes on a circle, node 0 (the
// seed) at the top, and an arrow from each node to every peer it dialed.
// Each node is a circle of class "node" with its number in data-node.
func graphFigure(rep *Report) string {
	const size, radius = 620.0, 270.0
	n := len(rep.NodeRows)
	r := math.Max(2.5, math.Min(12, 600/float64(max(n, 1))))
	pos := func(i int) (float64, float64) {
		a := 2*math.Pi*float64(i)/float64(max(n, 1)) - math.Pi/2
		return size/2 + radius*math.Cos(a), size/2 + radius*math.Sin(a)
	}
	var s svg
	s.printf(`<svg class="graph" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="peer graph">`+"\n", size, size, size, size)
	s.printf(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path class="arrowhead" d="M0,0 L10,5 L0,10 z"/></marker></defs>` + "\n")
	for _, l := range rep.Links {
		if l.From < 0 || l.From >= n || l.To < 0 || l.To >= n || l.From == l.To {
			continue
		}
		x1, y1 := pos(l.From)
		x2, y2 := pos(l.To)
		d := math.Hypot(x2-x1, y2-y1)
		ux, uy := (x2-x1)/d, (y2-y1)/d
		s.printf(`<line class="link" data-from="%d" data-to="%d" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" marker-end="url(#arrow)"><title>%d dialed %d</title></line>`+"\n",
			l.From, l.To, x1+ux*r, y1+uy*r, x2-ux*(r+1), y2-uy*(r+1), l.From, l.To)
	}
	for i, row := range rep.NodeRows {
		x, y := pos(i)
		class := "node"
		for _, c := range []struct {
			on   bool
			name string
		}{{i == 0, "seed"}, {row.Role == "isolated", "isolated"}, {row.Slowest, "slow"}, {row.Missing > 0, "lacking"}} {
			if c.on {
				class += " " + c.name
			}
		}
		title := fmt.Sprintf("node %d%s: %d out, %d in, %d txs, %d missing", i, roleSuffix(row.Role), row.Out, row.In, row.Txs, row.Missing)
		s.printf(`<circle class="%s" data-node="%d" cx="%.1f" cy="%.1f" r="%.1f"><title>%s</title></circle>`+"\n", class, i, x, y, r, title)
		if n <= 40 {
			a := 2*math.Pi*float64(i)/float64(n) - math.Pi/2
			label := strconv.Itoa(i)
			if i == 0 {
				label = "0 seed"
			}
			s.text(size/2+(radius+r+12)*math.Cos(a), size/2+(radius+r+12)*math.Sin(a)+4, "label", "middle", label)
		}
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// roleSuffix is " (role)", or "" for no role.
func roleSuffix(role string) string {
	if role == "" {
		return ""
	}
	return " (" + role + ")"
}

// discoveryFigure draws each node's outbound peer count over the run, the
// lowest count among the non-seed nodes, the mean, the target, and the
// moment discovery ended and injection began.
func discoveryFigure(rep *Report) string {
	samples := rep.Discovery
	if len(samples) == 0 {
		return `<p class="empty">No discovery samples: the run ended before discovery began.</p>`
	}
	n := len(samples[0].Outbound)
	at := make([]float64, len(samples))
	top := rep.TargetOutbound
	for k, smp := range samples {
		at[k] = smp.AtMS
		for _, v := range smp.Outbound {
			top = max(top, v)
		}
	}
	end := math.Max(rep.DiscoveryMS, at[len(at)-1])
	c := chart{w: 760, h: 300, left: 56, right: 16, top: 12, bottom: 44, xMax: math.Max(end, 1), yMax: float64(top + 1),
		xLabel: "time since PEX started", yLabel: "outbound peers", xTick: msLabel, yTick: countLabel, yStep: 1}
	var s svg
	c.open(&s, "chart discovery", "outbound peers per node over time")
	lowest, mean := make([]float64, len(samples)), make([]float64, len(samples))
	for i := range n {
		values := make([]float64, len(samples))
		for k, smp := range samples {
			if i < len(smp.Outbound) {
				values[k] = float64(smp.Outbound[i])
			}
		}
		for k, v := range values {
			if i == 1 || (i > 1 && v < lowest[k]) {
				lowest[k] = v
			}
			mean[k] += v / float64(n)
		}
		c.polyline(&s, "disc-node", fmt.Sprintf(` data-node="%d"`, i), fmt.Sprintf("node %d", i), stepPoints(at, values, end))
	}
	c.polyline(&s, "disc-mean", "", "mean of all nodes", stepPoints(at, mean, end))
	c.polyline(&s, "disc-min", "", "lowest among the nodes but the seed", stepPoints(at, lowest, end))
	c.polyline(&s, "target", "", fmt.Sprintf("target: %d outbound peers", rep.TargetOutbound),
		[][2]float64{{0, float64(rep.TargetOutbound)}, {c.xMax, float64(rep.TargetOutbound)}})
	c.polyline(&s, "phase", "", fmt.Sprintf("discovery ended after %s: injection began", msLabel(rep.DiscoveryMS)),
		[][2]float64{{rep.DiscoveryMS, 0}, {rep.DiscoveryMS, c.yMax}})
	s.WriteString("</svg>\n")
	return s.String()
}

// cdfFigure draws the propagation CDF: for each share of the nodes, the
// share of all transactions that reached it within a time. A curve whose
// transactions did not all reach that share ends below 100%.
func cdfFigure(rep *Report) string {
	if rep.Injected == 0 {
		return `<p class="empty">No transaction was injected.</p>`
	}
	xMax := 1.0
	for _, cv := range rep.Curves {
		if len(cv.MS) > 0 {
			xMax = math.Max(xMax, cv.MS[len(cv.MS)-1])
		}
	}
	c := chart{w: 760, h: 320, left: 56, right: 16, top: 12, bottom: 44, xMax: xMax * 1.02, yMax: 100,
		xLabel: "time since injection", yLabel: "% of transactions", xTick: msLabel, yTick: countLabel, yStep: 1}
	var s svg
	c.open(&s, "chart cdf", "propagation CDF")
	total := float64(max(rep.Txs, 1))
	for k, cv := range rep.Curves {
		pts := [][2]float64{{0, 0}}
		for i, v := range cv.MS {
			pts = append(pts, [2]float64{v, 100 * float64(i) / total}, [2]float64{v, 100 * float64(i+1) / total})
		}
		pts = append(pts, [2]float64{c.xMax, 100 * float64(len(cv.MS)) / total})
		title := fmt.Sprintf("%s: %d of %d txs", cv.Name, len(cv.MS), rep.Txs)
		c.polyline(&s, fmt.Sprintf("cdf c%d", k), fmt.Sprintf(` data-share="%g"`, cv.Share), title, pts)
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// countLabel formats a count for an axis.
func countLabel(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

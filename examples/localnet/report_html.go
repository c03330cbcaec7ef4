package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
)

//go:embed report.html.tmpl
var reportHTML string

// reportTemplate is the page -report writes: self-contained, with inline
// CSS and SVG and no script, so that it opens offline.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":    msText,
	"bytes": bytesString,
}).Parse(reportHTML))

// page is what the template shows: the report, its figures, and the rows
// of the propagation table.
type page struct {
	*Report
	Graph, Discovery, CDF template.HTML
	CurveRows             []curveRow
	AllIs99               bool // 99% of the nodes is all of them (up to 100 nodes)
}

// curveRow sums up one curve of the propagation CDF.
type curveRow struct {
	Class, Name        string
	Reached, Never     int
	P50, P90, P99, Max *float64
}

// writeHTML writes the report as one HTML page.
func writeHTML(w io.Writer, rep *Report) error {
	p := page{
		Report: rep,
		// The figures are markup built by report_figures.go, which
		// escapes every text it writes.
		Graph:     template.HTML(graphFigure(rep)),
		Discovery: template.HTML(discoveryFigure(rep)),
		CDF:       template.HTML(cdfFigure(rep)),
		AllIs99:   int(math.Ceil(0.99*float64(rep.Nodes))) == rep.Nodes,
	}
	for k, c := range rep.Curves {
		row := curveRow{Class: fmt.Sprintf("c%d", k), Name: c.Name, Reached: len(c.MS), Never: c.Never}
		if n := len(c.MS); n > 0 {
			p50, p90, p99 := percentile(c.MS, 50), percentile(c.MS, 90), percentile(c.MS, 99)
			row.P50, row.P90, row.P99, row.Max = &p50, &p90, &p99, &c.MS[n-1]
		}
		p.CurveRows = append(p.CurveRows, row)
	}
	if err := reportTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// msText formats a time in milliseconds (a float64, or a *float64 where nil
// means it never came) for the page.
func msText(v any) string {
	switch t := v.(type) {
	case float64:
		return msLabel(math.Round(t*10) / 10)
	case *float64:
		if t == nil {
			return "never"
		}
		return msText(*t)
	}
	return fmt.Sprint(v)
}

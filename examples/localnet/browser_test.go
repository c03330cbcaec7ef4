package main

import (
	"bytes"
	"context"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fileURL is the file:// URL of path.
func fileURL(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// rendered is what the test reads back from the page the browser drew.
type rendered struct {
	Title      string   `json:"title"`
	GraphNodes []string `json:"graphNodes"` // data-node of each circle of the peer graph
	Seeds      []string `json:"seeds"`      // those of class seed
	Links      int      `json:"links"`
	Charts     int      `json:"charts"` // discovery and CDF
	CDFCurves  int      `json:"cdfCurves"`
	NodeRows   int      `json:"nodeRows"`
	GraphWidth float64  `json:"graphWidth"` // laid out, in CSS pixels
	SeedFill   string   `json:"seedFill"`   // computed: the stylesheet applied
	PageHeight float64  `json:"pageHeight"`
}

// readBack is the page's script for rendered.
const readBack = `(() => {
  const q = s => Array.from(document.querySelectorAll(s));
  const seed = document.querySelector('svg.graph circle.node.seed');
  return {
    title: document.title,
    graphNodes: q('svg.graph circle.node[data-node]').map(c => c.dataset.node),
    seeds: q('svg.graph circle.node.seed').map(c => c.dataset.node),
    links: q('svg.graph line.link').length,
    charts: q('svg.chart').length,
    cdfCurves: q('svg.chart.cdf polyline.cdf').length,
    nodeRows: q('table.nodes tr[data-node]').length,
    graphWidth: document.querySelector('svg.graph').getBoundingClientRect().width,
    seedFill: seed ? getComputedStyle(seed).fill : '',
    pageHeight: document.documentElement.scrollHeight,
  };
})()`

// TestReportRendersInChromium writes the report of a small mocknet run,
// loads it in headless Chromium from a file:// URL, and checks that it
// fetched nothing but itself, logged no error, drew one graph node per
// peer (the seed marked) and every link and chart, and made a screenshot
// that is not blank.
func TestReportRendersInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	html, js := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.json")
	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), append(smallArgs, "-report", html, "-report-json", js), &stdout, &stderr); code != 0 {
		t.Fatalf("localnet exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	rep := readReport(t, js)

	b := startBrowser(t, chromium)
	p := b.newPage(t)
	u := fileURL(t, html)
	p.load(t, u)
	var got rendered
	p.eval(t, readBack, &got)
	shot := p.screenshot(t)
	if probs := p.problems(u); len(probs) > 0 {
		t.Errorf("the page had problems in the browser:\n  %s", strings.Join(probs, "\n  "))
	}

	want := make([]string, rep.Nodes)
	for i := range want {
		want[i] = strconv.Itoa(i)
	}
	if !slices.Equal(got.GraphNodes, want) {
		t.Errorf("graph nodes %v, want one per peer: %v", got.GraphNodes, want)
	}
	if !slices.Equal(got.Seeds, []string{"0"}) || got.SeedFill != "rgb(242, 194, 48)" {
		t.Errorf("seed nodes %v with fill %q, want node 0 in the seed's colour", got.Seeds, got.SeedFill)
	}
	if got.Links != len(rep.Links) || got.Charts != 2 || got.CDFCurves != 4 || got.NodeRows != rep.Nodes {
		t.Errorf("drawn: %d links (want %d), %d charts, %d CDF curves, %d node rows", got.Links, len(rep.Links), got.Charts, got.CDFCurves, got.NodeRows)
	}
	if got.GraphWidth < 300 || !strings.Contains(got.Title, "6 nodes on mocknet (OK)") {
		t.Errorf("graph %v px wide, title %q", got.GraphWidth, got.Title)
	}
	checkScreenshot(t, shot, int(got.PageHeight))
	if err := os.WriteFile(filepath.Join(dir, "report.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkScreenshot checks that shot is a PNG of the window's width and the
// page's height, with the report's colours on it (not a blank page).
func checkScreenshot(t *testing.T, shot []byte, pageHeight int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %s", err)
	}
	bounds := img.Bounds()
	if bounds.Dx() != 1200 || bounds.Dy() < pageHeight-2 || pageHeight < 900 {
		t.Errorf("screenshot %v, page height %d", bounds, pageHeight)
	}
	colours := map[[3]uint32]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 3 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	for name, c := range map[string][3]uint32{"node blue": {0x4a, 0x90, 0xd9}, "seed yellow": {0xf2, 0xc2, 0x30}} {
		if !colours[c] {
			t.Errorf("the screenshot has no %s pixel (%d colours in all)", name, len(colours))
		}
	}
}

// TestBrowserCheckSeesABrokenPage shows that the checks above would catch a
// broken report: a console error, an exception, and a resource that fails
// to load are all reported.
func TestBrowserCheckSeesABrokenPage(t *testing.T) {
	chromium := chromiumPath(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.html")
	broken := `<!doctype html><html><head><title>broken</title><link rel="icon" href="data:,"></head><body>
<img src="missing.png"><script>console.error("from the page"); undefinedFunction();</script></body></html>`
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, chromium)
	p := b.newPage(t)
	u := fileURL(t, path)
	p.load(t, u)
	var title string
	p.eval(t, "document.title", &title)
	probs := strings.Join(p.problems(u), "\n")
	for _, want := range []string{"console.error", "from the page", "exception: ", "undefinedFunction", "request: " + fileURL(t, filepath.Join(dir, "missing.png")), "log error"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
	if title != "broken" {
		t.Errorf("title %q", title)
	}
}

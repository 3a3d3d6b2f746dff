package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// A chart is drawn with gonum.org/v1/plot into an SVG document. The
// document depends only on the chart's fields: vgsvg writes no date or
// random identifier, the fonts are measured from the Liberation fonts
// compiled into gonum/plot (not the machine's), and not embedded, so
// that TestBenchmarksUpToDate can compare the charts byte for byte.
type chart interface {
	// SVG draws the chart.
	SVG() []byte
	// Alt describes the chart for the markdown image's alt text.
	Alt() string
}

// BarChart is a grouped bar chart: one group of bars per category (a
// request kind), one bar per series (a library), each bar labelled with
// its value.
type BarChart struct {
	Title      string
	YLabel     string
	Categories []string
	Series     []string
	// Values[c][s] is series s in category c; NaN draws no bar.
	Values [][]float64
}

// LineChart draws one line per series over numeric x values (session
// sizes), on log scales.
type LineChart struct {
	Title, XLabel, YLabel string
	// X are the x values, XLabels their tick labels.
	X       []float64
	XLabels []string
	Series  []string
	// Values[x][s] is series s at X[x]; NaN leaves the point out.
	Values [][]float64
}

// The charts' size, in points, and the font sizes.
const (
	chartW, chartH     = 540, 300
	titleSize          = 13
	labelSize          = 10
	valueSize          = 8
	groupFill          = 0.8 // of a category's width, for its bars
	sansFamily         = "Liberation Sans"
	sansFallbackFamily = "Liberation Sans,Arial,Helvetica,sans-serif"
)

var palette = map[string]color.RGBA{
	"scs":             {0x7f, 0x7f, 0x7f, 0xff},
	"typed-msgpack":   {0x1f, 0x77, 0xb4, 0xff},
	"typed-json":      {0xff, 0x7f, 0x0e, 0xff},
	"typed-goccyjson": {0x94, 0x67, 0xbd, 0xff},
	"gorilla":         {0x2c, 0xa0, 0x2c, 0xff},
}

var extraColors = []color.RGBA{
	{0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff},
	{0x17, 0xbe, 0xcf, 0xff}, {0xbc, 0xbd, 0x22, 0xff}, {0xd6, 0x27, 0x28, 0xff},
}

func seriesColor(series string, i int) color.Color {
	if c, ok := palette[series]; ok {
		return c
	}
	return extraColors[i%len(extraColors)]
}

// glyphs and dashes tell the lines apart without their colours.
var glyphs = []draw.GlyphDrawer{draw.BoxGlyph{}, draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

var dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}

// sans sets a text style to Liberation Sans (gonum/plot's default is its
// serif) at size.
func sans(s *text.Style, size float64) {
	s.Font.Variant = "Sans"
	s.Font.Size = vg.Points(size)
}

// newPlot returns a plot with the chart's title and axis labels, in
// Liberation Sans, with horizontal grid lines.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	sans(&p.Title.TextStyle, titleSize)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		sans(&a.Label.TextStyle, labelSize)
		sans(&a.Tick.Label, labelSize)
	}
	p.Y.Tick.Marker = plot.TickerFunc(linearTicks)
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	g.Horizontal.Color = color.Gray{Y: 0xd0}
	p.Add(g)
	return p
}

// newLegend returns an empty legend in Liberation Sans.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	sans(&l.TextStyle, labelSize)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(3)
	l.ThumbnailWidth = vg.Points(18)
	return l
}

// render draws p with the legend in a column on its right, below the
// title, and returns the SVG document.
func render(p *plot.Plot, l plot.Legend) []byte {
	c := vgsvg.New(chartW, chartH)
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	lw := l.Rectangle(dc).Size().X + vg.Points(12)
	top := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding + vg.Points(4)
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	l.Draw(draw.Crop(dc, chartW-lw+vg.Points(8), 0, 0, -top))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		panic(fmt.Sprintf("report: writing an SVG to memory: %v", err)) // a bytes.Buffer does not fail
	}
	// vgsvg names the font alone; a viewer without Liberation Sans
	// falls back to its default, often a serif. Arial and Helvetica have
	// Liberation Sans's metrics, so the labels keep their widths.
	return bytes.ReplaceAll(b.Bytes(), []byte("font-family:"+sansFamily+";"), []byte("font-family:"+sansFallbackFamily+";"))
}

// must panics on an error of a gonum/plot constructor: the charts' values
// are checked (no NaN, no infinity) before they are passed on, so an
// error is a bug here.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("report: drawing a chart: %v", err))
	}
	return v
}

// SVG draws the chart as a standalone SVG document.
func (c BarChart) SVG() []byte {
	p := newPlot(c.Title, "", c.YLabel)
	l := newLegend()
	if len(c.Categories) == 0 || len(c.Series) == 0 {
		return render(p, l)
	}
	p.NominalX(c.Categories...)
	p.X.Padding, p.Y.Padding = 0, 0
	n := float64(len(c.Categories))
	p.X.Min, p.X.Max = -0.5, n-0.5
	p.Y.Min = 0
	top := 0.0
	bars := make([]*plotter.BarChart, len(c.Series))
	labels := make([]*plotter.Labels, len(c.Series)) // nil for a series without values
	for si, s := range c.Series {
		vals := make(plotter.Values, len(c.Categories))
		var xys plotter.XYs
		var texts []string
		for ci := range c.Categories {
			v := math.NaN()
			if ci < len(c.Values) && si < len(c.Values[ci]) {
				v = c.Values[ci][si]
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue // a zero-height bar, without a label
			}
			vals[ci] = v
			top = math.Max(top, v)
			xys = append(xys, plotter.XY{X: float64(ci), Y: v})
			texts = append(texts, short(v))
		}
		b := must(plotter.NewBarChart(vals, 1))
		b.Color = seriesColor(s, si)
		b.LineStyle.Width = 0
		p.Add(b)
		bars[si] = b
		l.Add(s, b)
		if len(xys) > 0 {
			lb := must(plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts}))
			for i := range lb.TextStyle {
				sans(&lb.TextStyle[i], valueSize)
				lb.TextStyle[i].XAlign = draw.XCenter
				lb.TextStyle[i].YAlign = draw.YBottom
			}
			p.Add(lb)
			labels[si] = lb
		}
	}
	if top == 0 {
		top = 1
	}
	p.Y.Max = top * 1.12 // room for the labels above the tallest bar
	// The bars' width is a share of a category's width on the canvas,
	// which the axes' sizes decide: measure it with narrow bars first.
	dc := draw.New(vgsvg.New(chartW, chartH))
	lw := l.Rectangle(dc).Size().X + vg.Points(12)
	area := p.DataCanvas(draw.Crop(dc, 0, -lw, 0, 0))
	w := area.Size().X / vg.Length(n) * groupFill / vg.Length(len(bars))
	for i, b := range bars {
		b.Width = w
		b.Offset = (vg.Length(i) - vg.Length(len(bars)-1)/2) * w
		if labels[i] != nil {
			labels[i].Offset = vg.Point{X: b.Offset, Y: vg.Points(2)}
		}
	}
	return render(p, l)
}

// Alt describes the chart.
func (c BarChart) Alt() string {
	alt := fmt.Sprintf("Bar chart: %s; %s", c.Title, c.YLabel)
	if len(c.Categories) > 1 || len(c.Categories) == 1 && c.Categories[0] != "" {
		alt += " for " + list(c.Categories)
	}
	return alt + ", by library (" + list(c.Series) + ")"
}

// SVG draws the chart as a standalone SVG document.
func (c LineChart) SVG() []byte {
	p := newPlot(c.Title, c.XLabel, c.YLabel)
	l := newLegend()
	l.ThumbnailWidth = vg.Points(28)
	// The axes plot log10 of the values, with ticks labelled in the
	// values: gonum/plot's LogScale makes room for the y axis's label as
	// if the axis were linear (around the arithmetic mean of its range),
	// which on these ranges squeezes the plot into its lower half.
	lo, hi := math.Inf(1), math.Inf(-1)
	for si, s := range c.Series {
		var xys plotter.XYs
		for xi, x := range c.X {
			if xi < len(c.Values) && si < len(c.Values[xi]) {
				if v := c.Values[xi][si]; v > 0 && !math.IsInf(v, 0) && x > 0 {
					xys = append(xys, plotter.XY{X: math.Log10(x), Y: math.Log10(v)})
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points := must2(plotter.NewLinePoints(xys))
		col := seriesColor(s, si)
		line.Color = col
		line.Width = vg.Points(1.5)
		line.Dashes = dashes[si%len(dashes)]
		points.Color = col
		points.Shape = glyphs[si%len(glyphs)]
		points.Radius = vg.Points(3)
		p.Add(line, points)
		l.Add(s, line, points)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	p.Y.Min, p.Y.Max = math.Log10(lo/1.3), math.Log10(hi*1.3)
	p.Y.Tick.Marker = plot.TickerFunc(logTicks)
	if len(c.X) > 0 {
		p.X.Min, p.X.Max = math.Log10(c.X[0]/1.4), math.Log10(c.X[len(c.X)-1]*1.4)
		ticks := make([]plot.Tick, len(c.X))
		for i, x := range c.X {
			ticks[i] = plot.Tick{Value: math.Log10(x), Label: c.XLabels[i]}
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	return render(p, l)
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(fmt.Sprintf("report: drawing a chart: %v", err))
	}
	return a, b
}

// Alt describes the chart.
func (c LineChart) Alt() string {
	return fmt.Sprintf("Line chart, log scales: %s, by library (%s), at %s", c.Title, list(c.Series), list(c.XLabels))
}

// logTicks marks an axis of log10 of the values: labelled ticks at 1, 2
// and 5 times each power of ten, unlabelled ones at the other multiples.
func logTicks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		for m := 1; m < 10; m++ {
			v := float64(m) * math.Pow(10, e)
			lv := math.Log10(v)
			if lv < lo || lv > hi {
				continue
			}
			t := plot.Tick{Value: lv}
			if m == 1 || m == 2 || m == 5 {
				t.Label = short(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// linearTicks marks a linear axis with about five labelled ticks, at
// multiples of 1, 2 or 5 times a power of ten: from 1000 up labelled as
// short does, below with the step's decimals.
func linearTicks(lo, hi float64) []plot.Tick {
	step := niceStep((hi - lo) / 5)
	decimals := max(-int(math.Floor(math.Log10(step))), 0)
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi; i++ {
		v := i * step
		label := short(v)
		if math.Abs(v) < 1000 {
			label = strconv.FormatFloat(v, 'f', decimals, 64)
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// list joins xs as "a, b and c".
func list(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

// short formats v with three significant digits and a k, M or G suffix.
func short(v float64) string {
	suffix := ""
	for _, s := range []string{"k", "M", "G"} {
		if math.Abs(v) < 1000 {
			break
		}
		v /= 1000
		suffix = s
	}
	switch {
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f%s", v, suffix)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f%s", v, suffix)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f%s", v, suffix)
	}
	return fmt.Sprintf("%.2f%s", v, suffix)
}

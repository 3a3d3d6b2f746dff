package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart is a grouped bar chart: one group of bars per category (a size,
// a request kind), one bar per series (a library).
type Chart struct {
	Title      string
	YLabel     string
	Categories []string
	Series     []string
	// Values[c][s] is series s in category c; NaN draws no bar.
	Values [][]float64
	Log    bool
}

var palette = map[string]string{
	"scs":           "#7f7f7f",
	"typed-msgpack": "#1f77b4",
	"typed-json":    "#ff7f0e",
	"gorilla":       "#2ca02c",
}

var extraColors = []string{"#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728"}

const (
	chartW, chartH             = 760, 420
	padL, padR, padT, padB     = 80, 20, 70, 50
	plotW, plotH               = chartW - padL - padR, chartH - padT - padB
	fontFamily                 = "sans-serif"
	barFill, categoryFill      = 0.8, 0.1
	legendBox, legendGap, line = 12, 16, 18
)

// SVG draws the chart as a standalone SVG document. The output depends
// only on the chart, so that it can be compared byte for byte.
func (c Chart) SVG() []byte {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, vs := range c.Values {
		for _, v := range vs {
			if !math.IsNaN(v) && v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	var ticks []float64
	var y func(v float64) float64
	if c.Log {
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		if hi <= lo {
			hi = lo * 10
		}
		for t := lo; t <= hi*1.0001; t *= 10 {
			ticks = append(ticks, t)
		}
		y = func(v float64) float64 {
			return padT + plotH - plotH*math.Log10(v/lo)/math.Log10(hi/lo)
		}
	} else {
		step := niceStep(hi / 5)
		hi = math.Ceil(hi/step) * step
		lo = 0
		for t := 0.0; t <= hi*1.0001; t += step {
			ticks = append(ticks, t)
		}
		y = func(v float64) float64 { return padT + plotH - plotH*v/hi }
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">`+"\n",
		chartW, chartH, chartW, chartH, fontFamily)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(c.Title))
	// Legend.
	x := float64(padL)
	for i, s := range c.Series {
		fmt.Fprintf(&b, `<rect x="%.1f" y="34" width="%d" height="%d" fill="%s"/>`+"\n", x, legendBox, legendBox, color(s, i))
		fmt.Fprintf(&b, `<text x="%.1f" y="45" font-size="12">%s</text>`+"\n", x+legendBox+4, esc(s))
		x += legendBox + 4 + 7.5*float64(len(s)) + legendGap
	}
	// Axes and grid.
	for _, t := range ticks {
		ty := y(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#dddddd"/>`+"\n", padL, ty, padL+plotW, ty)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`+"\n", padL-6, ty+4, short(t))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000000"/>`+"\n", padL, padT, padL, padT+plotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000000"/>`+"\n", padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" font-size="12" text-anchor="middle">%s</text>`+"\n",
		padT+plotH/2, esc(c.YLabel))
	// Bars.
	if len(c.Categories) > 0 && len(c.Series) > 0 {
		cw := float64(plotW) / float64(len(c.Categories))
		bw := cw * barFill / float64(len(c.Series))
		for ci, cat := range c.Categories {
			cx := float64(padL) + float64(ci)*cw
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" text-anchor="middle">%s</text>`+"\n",
				cx+cw/2, padT+plotH+18, esc(cat))
			for si, s := range c.Series {
				v := math.NaN()
				if ci < len(c.Values) && si < len(c.Values[ci]) {
					v = c.Values[ci][si]
				}
				if math.IsNaN(v) || (c.Log && v <= 0) {
					continue
				}
				bx := cx + cw*categoryFill + float64(si)*bw
				top := y(v)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
					bx, top, bw-2, float64(padT+plotH)-top, color(s, si), esc(cat), esc(s), esc(short(v)))
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>`+"\n",
					bx+(bw-2)/2, top-3, esc(short(v)))
			}
		}
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func color(series string, i int) string {
	if c, ok := palette[series]; ok {
		return c
	}
	return extraColors[i%len(extraColors)]
}

func esc(s string) string { return html.EscapeString(s) }

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
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

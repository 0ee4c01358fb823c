package ui

import (
	"fmt"
	"image/color"
	"math"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Series is one stacked layer of a Chart: a value per bucket.
type Series struct {
	Name   string
	Values []float64
}

// ChartData is what a Chart draws: equal time buckets from Start, each Step long.
type ChartData struct {
	Start  time.Time
	Step   time.Duration
	Series []Series
}

func (d ChartData) buckets() int {
	n := 0
	for _, s := range d.Series {
		n = max(n, len(s.Values))
	}
	return n
}

func (d ChartData) total(i int) float64 {
	t := 0.0
	for _, s := range d.Series {
		if i < len(s.Values) {
			t += s.Values[i]
		}
	}
	return t
}

// Chart is a stacked bar chart over time with axes, tick labels, a legend and a tooltip
// under the mouse. It is drawn only with canvas primitives so it renders the same under the
// test driver, Xvfb and a real desktop.
type Chart struct {
	widget.BaseWidget
	data  ChartData
	hover int // bucket under the mouse, -1 for none
}

// NewChart returns an empty chart.
func NewChart() *Chart {
	c := &Chart{hover: -1}
	c.ExtendBaseWidget(c)
	return c
}

// SetData replaces what the chart shows (UI goroutine).
func (c *Chart) SetData(d ChartData) {
	c.data = d
	if c.hover >= d.buckets() {
		c.hover = -1
	}
	c.Refresh()
}

// Data returns what the chart shows.
func (c *Chart) Data() ChartData { return c.data }

// Tooltip is the text of the hover tooltip ("" when the mouse is not over a bucket).
func (c *Chart) Tooltip() string {
	if c.hover < 0 || c.hover >= c.data.buckets() {
		return ""
	}
	t := c.data.Start.Add(time.Duration(c.hover) * c.data.Step)
	lines := []string{fmt.Sprintf("%s  total %g", t.Local().Format("15:04"), c.data.total(c.hover))}
	for _, s := range c.data.Series {
		if c.hover < len(s.Values) && s.Values[c.hover] > 0 {
			lines = append(lines, fmt.Sprintf("%s %g", s.Name, s.Values[c.hover]))
		}
	}
	return strings.Join(lines, "\n")
}

// MouseIn implements desktop.Hoverable.
func (c *Chart) MouseIn(e *desktop.MouseEvent) { c.MouseMoved(e) }

// MouseMoved implements desktop.Hoverable: it picks the bucket under the pointer.
func (c *Chart) MouseMoved(e *desktop.MouseEvent) {
	plot := plotArea(c.Size())
	n := c.data.buckets()
	h := -1
	if n > 0 && e.Position.X >= plot.Position.X && e.Position.X < plot.Position.X+plot.Size.Width {
		h = int(float32(n) * (e.Position.X - plot.Position.X) / plot.Size.Width)
		h = min(max(h, 0), n-1)
	}
	if h != c.hover {
		c.hover = h
		c.Refresh()
	}
}

// MouseOut implements desktop.Hoverable.
func (c *Chart) MouseOut() {
	c.hover = -1
	c.Refresh()
}

// MinSize keeps the chart legible.
func (c *Chart) MinSize() fyne.Size { return fyne.NewSize(420, 220) }

// CreateRenderer implements fyne.Widget.
func (c *Chart) CreateRenderer() fyne.WidgetRenderer {
	r := &chartRenderer{c: c}
	r.rebuild()
	return r
}

const (
	yTicks      = 4
	xTicks      = 6
	axisLeft    = 48
	axisBottom  = 26
	legendH     = 22
	chartMargin = 8
)

// plotArea is where bars go inside a chart of size sz.
type rect struct {
	Position fyne.Position
	Size     fyne.Size
}

func plotArea(sz fyne.Size) rect {
	x, y := float32(axisLeft), float32(legendH+chartMargin)
	return rect{fyne.NewPos(x, y), fyne.NewSize(max(sz.Width-x-chartMargin, 1), max(sz.Height-y-axisBottom, 1))}
}

// kindColor gives each series a fixed, distinguishable color readable on light and dark.
func kindColor(i int) color.Color {
	palette := []color.NRGBA{
		{0xe4, 0x57, 0x56, 0xff}, {0x4c, 0x8b, 0xf5, 0xff}, {0xf2, 0xa5, 0x3b, 0xff}, {0x3d, 0xb3, 0x8a, 0xff},
		{0xa3, 0x6b, 0xe0, 0xff}, {0x2f, 0xb5, 0xc8, 0xff}, {0xd9, 0x6b, 0xb0, 0xff}, {0x9a, 0x9a, 0x4a, 0xff},
		{0x8d, 0x6e, 0x63, 0xff}, {0x78, 0x90, 0x9c, 0xff},
	}
	return palette[i%len(palette)]
}

type chartRenderer struct {
	c       *Chart
	bg      *canvas.Rectangle
	xAxis   *canvas.Line
	yAxis   *canvas.Line
	grid    []*canvas.Line
	yLabels []*canvas.Text
	xLabels []*canvas.Text
	bars    [][]*canvas.Rectangle // [series][bucket]
	legend  []fyne.CanvasObject   // swatch, text pairs
	tipBg   *canvas.Rectangle
	tip     []*canvas.Text
	hoverBg *canvas.Rectangle
	empty   *canvas.Text
	objs    []fyne.CanvasObject
	yMax    float64
}

func (r *chartRenderer) rebuild() {
	fg := theme.Color(theme.ColorNameForeground)
	muted := theme.Color(theme.ColorNameDisabled)
	d := r.c.data
	r.bg = canvas.NewRectangle(color.Transparent)
	r.xAxis, r.yAxis = canvas.NewLine(fg), canvas.NewLine(fg)
	r.grid, r.yLabels, r.xLabels = nil, nil, nil
	r.yMax = niceMax(d)
	for i := 0; i <= yTicks; i++ {
		l := canvas.NewLine(theme.Color(theme.ColorNameSeparator))
		r.grid = append(r.grid, l)
		t := canvas.NewText(formatCount(r.yMax*float64(i)/yTicks), muted)
		t.TextSize = theme.CaptionTextSize()
		t.Alignment = fyne.TextAlignTrailing
		r.yLabels = append(r.yLabels, t)
	}
	n := d.buckets()
	for i := 0; i < xTicks && n > 0; i++ {
		at := d.Start.Add(time.Duration(float64(n)*float64(i)/float64(xTicks-1)) * d.Step)
		t := canvas.NewText(at.Local().Format("15:04"), muted)
		t.TextSize = theme.CaptionTextSize()
		t.Alignment = fyne.TextAlignCenter
		r.xLabels = append(r.xLabels, t)
	}
	r.hoverBg = canvas.NewRectangle(withAlpha(fg, 0x22))
	r.bars = nil
	r.legend = nil
	for si, s := range d.Series {
		col := kindColor(si)
		var row []*canvas.Rectangle
		for range s.Values {
			row = append(row, canvas.NewRectangle(col))
		}
		r.bars = append(r.bars, row)
		sw := canvas.NewRectangle(col)
		sw.CornerRadius = 2
		lt := canvas.NewText(s.Name, fg)
		lt.TextSize = theme.CaptionTextSize()
		r.legend = append(r.legend, sw, lt)
	}
	r.tipBg = canvas.NewRectangle(theme.Color(theme.ColorNameOverlayBackground))
	r.tipBg.StrokeColor = fg
	r.tipBg.StrokeWidth = 1
	r.tipBg.CornerRadius = 4
	r.tip = nil
	for _, line := range strings.Split(r.c.Tooltip(), "\n") {
		t := canvas.NewText(line, fg)
		t.TextSize = theme.CaptionTextSize()
		r.tip = append(r.tip, t)
	}
	r.empty = canvas.NewText("no events in this period", muted)
	r.empty.Alignment = fyne.TextAlignCenter

	r.objs = []fyne.CanvasObject{r.bg}
	for _, g := range r.grid {
		r.objs = append(r.objs, g)
	}
	r.objs = append(r.objs, r.hoverBg)
	for _, row := range r.bars {
		for _, b := range row {
			r.objs = append(r.objs, b)
		}
	}
	r.objs = append(r.objs, r.xAxis, r.yAxis)
	for _, t := range r.yLabels {
		r.objs = append(r.objs, t)
	}
	for _, t := range r.xLabels {
		r.objs = append(r.objs, t)
	}
	r.objs = append(r.objs, r.legend...)
	r.objs = append(r.objs, r.empty, r.tipBg)
	for _, t := range r.tip {
		r.objs = append(r.objs, t)
	}
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), a}
}

// niceMax rounds the tallest stack up to 1, 2 or 5 × 10^k so tick labels are round numbers.
func niceMax(d ChartData) float64 {
	m := 0.0
	for i := 0; i < d.buckets(); i++ {
		m = math.Max(m, d.total(i))
	}
	if m <= 0 {
		return yTicks
	}
	step := m / yTicks
	mag := math.Pow(10, math.Floor(math.Log10(step)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*mag >= step {
			return math.Max(f*mag*yTicks, yTicks)
		}
	}
	return m
}

func formatCount(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%g", math.Round(v*10)/10)
}

func (r *chartRenderer) Layout(sz fyne.Size) {
	r.bg.Resize(sz)
	p := plotArea(sz)
	x0, y0 := p.Position.X, p.Position.Y
	w, h := p.Size.Width, p.Size.Height
	r.xAxis.Position1, r.xAxis.Position2 = fyne.NewPos(x0, y0+h), fyne.NewPos(x0+w, y0+h)
	r.yAxis.Position1, r.yAxis.Position2 = fyne.NewPos(x0, y0), fyne.NewPos(x0, y0+h)
	for i, g := range r.grid {
		y := y0 + h - h*float32(i)/yTicks
		g.Position1, g.Position2 = fyne.NewPos(x0, y), fyne.NewPos(x0+w, y)
		lbl := r.yLabels[i]
		ls := lbl.MinSize()
		lbl.Resize(fyne.NewSize(axisLeft-6, ls.Height))
		lbl.Move(fyne.NewPos(0, y-ls.Height/2))
	}
	for i, t := range r.xLabels {
		x := x0 + w*float32(i)/float32(xTicks-1)
		ts := t.MinSize()
		t.Resize(fyne.NewSize(ts.Width+4, ts.Height))
		t.Move(fyne.NewPos(min(max(x-ts.Width/2-2, x0), x0+w-ts.Width-4), y0+h+4))
	}
	d := r.c.data
	n := d.buckets()
	if n > 0 {
		bw := w / float32(n)
		gap := float32(0)
		if bw > 4 {
			gap = max(1, bw*0.15)
		}
		for i := 0; i < n; i++ {
			base := y0 + h
			for si, s := range d.Series {
				if i >= len(s.Values) {
					continue
				}
				bh := float32(s.Values[i] / r.yMax * float64(h))
				b := r.bars[si][i]
				b.Resize(fyne.NewSize(max(bw-gap, 1), bh))
				b.Move(fyne.NewPos(x0+bw*float32(i)+gap/2, base-bh))
				base -= bh
			}
		}
		r.hoverBg.Hidden = r.c.hover < 0
		if r.c.hover >= 0 {
			r.hoverBg.Resize(fyne.NewSize(bw, h))
			r.hoverBg.Move(fyne.NewPos(x0+bw*float32(r.c.hover), y0))
		}
	} else {
		r.hoverBg.Hidden = true
	}
	r.empty.Hidden = n > 0 && r.yMaxReal() > 0
	r.empty.Resize(fyne.NewSize(w, 20))
	r.empty.Move(fyne.NewPos(x0, y0+h/2-10))
	lx := x0
	for i := 0; i+1 < len(r.legend); i += 2 {
		sw, lt := r.legend[i], r.legend[i+1]
		sw.Resize(fyne.NewSize(10, 10))
		sw.Move(fyne.NewPos(lx, 6))
		ts := lt.MinSize()
		lt.Resize(ts)
		lt.Move(fyne.NewPos(lx+14, 11-ts.Height/2))
		lx += 14 + ts.Width + 14
	}
	// tooltip: beside the hovered bar, flipped left near the right edge, inside the widget.
	show := r.c.hover >= 0 && len(r.tip) > 0 && r.tip[0].Text != ""
	r.tipBg.Hidden = !show
	var tw, th float32
	for _, t := range r.tip {
		t.Hidden = !show
		ts := t.MinSize()
		tw, th = max(tw, ts.Width), th+ts.Height
	}
	if show {
		bw := w / float32(max(n, 1))
		tx := x0 + bw*float32(r.c.hover+1) + 8
		if tx+tw+16 > sz.Width {
			tx = x0 + bw*float32(r.c.hover) - tw - 24
		}
		tx = max(tx, 0)
		ty := y0 + 8
		r.tipBg.Resize(fyne.NewSize(tw+16, th+10))
		r.tipBg.Move(fyne.NewPos(tx, ty))
		y := ty + 5
		for _, t := range r.tip {
			ts := t.MinSize()
			t.Resize(ts)
			t.Move(fyne.NewPos(tx+8, y))
			y += ts.Height
		}
	}
}

func (r *chartRenderer) yMaxReal() float64 {
	m := 0.0
	for i := 0; i < r.c.data.buckets(); i++ {
		m = math.Max(m, r.c.data.total(i))
	}
	return m
}

func (r *chartRenderer) MinSize() fyne.Size { return r.c.MinSize() }

func (r *chartRenderer) Refresh() {
	r.rebuild()
	r.Layout(r.c.Size())
	canvas.Refresh(r.c)
}

func (r *chartRenderer) Objects() []fyne.CanvasObject { return r.objs }

func (r *chartRenderer) Destroy() {}

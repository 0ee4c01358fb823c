package ui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"bulwark/core/event"
	"bulwark/ui/source"
)

// feedSize is how many live events the dashboard keeps.
const feedSize = 200

// maxSeries is how many kinds the chart shows before folding the rest into "other".
const maxSeries = 7

// dashboard is the overview: events per minute by kind, counters, top lists and a live feed.
type dashboard struct {
	s       *session
	period  *widget.RadioGroup
	chart   *Chart
	blocked *canvas.Text
	logged  *canvas.Text
	bans    *canvas.Text
	alerts  *canvas.Text
	top     map[source.TopKind]*topList
	feed    []event.Event
	feedW   *widget.List
	msg     *widget.Label
	content fyne.CanvasObject
	kinds   []string // series order of the chart
	// received counts streamed events applied to the screen (tests wait on it).
	received atomic.Int64
}

type topList struct {
	rows []source.TopEntry
	list *widget.List
}

func newDashboard(s *session) *dashboard {
	d := &dashboard{s: s, chart: NewChart(), top: map[source.TopKind]*topList{}}
	d.period = widget.NewRadioGroup([]string{"Last hour", "Last 24 h"}, func(string) { d.refresh() })
	d.period.Horizontal = true
	d.period.Selected = "Last hour"
	counter := func() *canvas.Text {
		t := canvas.NewText("–", theme.Color(theme.ColorNameForeground))
		t.TextSize = 28
		t.TextStyle.Bold = true
		return t
	}
	d.blocked, d.logged, d.bans, d.alerts = counter(), counter(), counter(), counter()
	card := func(title string, t *canvas.Text) fyne.CanvasObject {
		return widget.NewCard("", title, container.NewCenter(t))
	}
	counters := container.NewGridWithColumns(4, card("Blocked", d.blocked), card("Not blocked (logged)", d.logged),
		card("Active bans", d.bans), card("Open alerts", d.alerts))
	mkTop := func(k source.TopKind, title string) fyne.CanvasObject {
		tl := &topList{}
		tl.list = widget.NewList(func() int { return len(tl.rows) },
			func() fyne.CanvasObject {
				return container.NewBorder(nil, nil, nil, widget.NewLabel("0000"), widget.NewLabel("value"))
			},
			func(i widget.ListItemID, o fyne.CanvasObject) {
				row := o.(*fyne.Container)
				l := row.Objects[0].(*widget.Label)
				l.Truncation = fyne.TextTruncateEllipsis
				l.SetText(tl.rows[i].Value)
				row.Objects[1].(*widget.Label).SetText(fmt.Sprint(tl.rows[i].Count))
			})
		d.top[k] = tl
		return widget.NewCard("", title, tl.list)
	}
	tops := container.NewGridWithColumns(3, mkTop(source.TopIPs, "Top attacking IPs"),
		mkTop(source.TopRules, "Top rules"), mkTop(source.TopPaths, "Top targeted paths"))
	d.feedW = widget.NewList(func() int { return len(d.feed) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("00:00:00 blocked sqli 203.0.113.77 /shop/search")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			e := d.feed[i]
			o.(*widget.Label).SetText(fmt.Sprintf("%s  %-8s %-10s %s %s %s", e.TS.Local().Format("15:04:05"), e.Action, e.Kind, e.IP, e.Method, e.Path))
		})
	d.msg = widget.NewLabel("")
	d.msg.Importance = widget.DangerImportance
	d.msg.Wrapping = fyne.TextWrapWord
	chartCard := widget.NewCard("", "Events per minute by kind", container.NewBorder(d.period, nil, nil, nil, d.chart))
	left := container.NewBorder(container.NewVBox(counters, d.msg), nil, nil, nil,
		container.NewVSplit(chartCard, tops))
	feedCard := widget.NewCard("", "Live feed", d.feedW)
	split := container.NewHSplit(left, feedCard)
	split.Offset = 0.7
	d.content = container.NewPadded(split)
	d.follow()
	return d
}

func (d *dashboard) object() fyne.CanvasObject { return d.content }
func (d *dashboard) autoRefresh()              {}

// window is the chart's period and bucket size.
func (d *dashboard) window() (since time.Time, bucket time.Duration) {
	now := d.s.now()
	if d.period.Selected == "Last 24 h" {
		return now.Add(-24 * time.Hour).Truncate(15 * time.Minute), 15 * time.Minute
	}
	return now.Add(-time.Hour).Truncate(time.Minute), time.Minute
}

func (d *dashboard) refresh() {
	since, bucket := d.window()
	app := d.s.app
	run(d.s, func(ctx context.Context) ([]source.StatBucket, error) { return app.Stats(ctx, since, bucket) },
		func(st []source.StatBucket, err error) {
			if err != nil {
				d.msg.SetText(errText("load chart", err))
				return
			}
			d.msg.SetText("")
			d.setStats(st, since, bucket)
		})
	for k, tl := range d.top {
		run(d.s, func(ctx context.Context) ([]source.TopEntry, error) { return app.Top(ctx, k, since, 10) },
			func(rows []source.TopEntry, err error) {
				if err == nil {
					tl.rows = rows
					tl.list.Refresh()
				}
			})
	}
	run(d.s, func(ctx context.Context) (source.AccessLists, error) { return app.Access(ctx) },
		func(a source.AccessLists, err error) {
			if err == nil {
				setText(d.bans, fmt.Sprint(len(a.Bans)))
			}
		})
	run(d.s, func(ctx context.Context) ([]source.Alert, error) { return app.AlertHistory(ctx, 500) },
		func(al []source.Alert, err error) {
			if err == nil {
				open := 0
				for _, a := range al {
					if !a.Acked {
						open++
					}
				}
				setText(d.alerts, fmt.Sprint(open))
			}
		})
}

func setText(t *canvas.Text, s string) {
	t.Text = s
	t.Refresh()
}

// setStats turns buckets into chart series (biggest kinds first, the tail folded into
// "other") and the blocked/logged counters.
func (d *dashboard) setStats(st []source.StatBucket, since time.Time, bucket time.Duration) {
	n := int(d.s.now().Sub(since)/bucket) + 1
	totals := map[event.Kind]int{}
	all, blocked := 0, 0
	for _, b := range st {
		if b.Count > 0 {
			totals[b.Kind] += b.Count
		}
		all += b.Count
		blocked += b.Blocked
	}
	logged := all - blocked
	kinds := make([]string, 0, len(totals))
	for k := range totals {
		kinds = append(kinds, string(k))
	}
	sort.Slice(kinds, func(i, j int) bool {
		if totals[event.Kind(kinds[i])] != totals[event.Kind(kinds[j])] {
			return totals[event.Kind(kinds[i])] > totals[event.Kind(kinds[j])]
		}
		return kinds[i] < kinds[j]
	})
	if len(kinds) > maxSeries {
		kinds = append(kinds[:maxSeries-1], "other")
	}
	index := map[string]int{}
	series := make([]Series, len(kinds))
	for i, k := range kinds {
		index[k] = i
		series[i] = Series{Name: k, Values: make([]float64, n)}
	}
	for _, b := range st {
		i := int(b.Start.Sub(since) / bucket)
		if i < 0 || i >= n || b.Count == 0 {
			continue
		}
		si, ok := index[string(b.Kind)]
		if !ok {
			si = index["other"]
		}
		series[si].Values[i] += float64(b.Count)
	}
	d.kinds = kinds
	d.chart.SetData(ChartData{Start: since, Step: bucket, Series: series})
	setText(d.blocked, fmt.Sprint(blocked))
	setText(d.logged, fmt.Sprint(logged))
}

// follow reads the live stream until the session ends; a dropped stream is retried every
// refresh period (never, when refresh is off).
func (d *dashboard) follow() {
	s := d.s
	go func() {
		for s.ctx.Err() == nil {
			ch, err := s.app.Stream(s.ctx)
			for err == nil {
				select {
				case <-s.ctx.Done():
					return
				case e, ok := <-ch:
					if !ok {
						err = errors.New("stream ended")
						break
					}
					s.c.do(func() { d.live(e) })
					d.received.Add(1)
				}
			}
			if s.c.opt.Refresh <= 0 {
				return
			}
			select {
			case <-s.ctx.Done():
			case <-time.After(s.c.opt.Refresh):
			}
		}
	}()
}

// live adds one streamed event to the feed, the counters and the chart's current bucket.
func (d *dashboard) live(e event.Event) {
	if d.s.ctx.Err() != nil {
		return
	}
	d.feed = append([]event.Event{e}, d.feed...)
	if len(d.feed) > feedSize {
		d.feed = d.feed[:feedSize]
	}
	d.feedW.Refresh()
	data := d.chart.Data()
	if data.Step <= 0 {
		return
	}
	i := int(e.TS.Sub(data.Start) / data.Step)
	if i < 0 || i >= data.buckets() {
		return
	}
	si := -1
	for j, s := range data.Series {
		if s.Name == string(e.Kind) {
			si = j
		}
	}
	if si < 0 {
		for j, s := range data.Series {
			if s.Name == "other" {
				si = j
			}
		}
	}
	if si < 0 {
		data.Series = append(data.Series, Series{Name: string(e.Kind), Values: make([]float64, data.buckets())})
		si = len(data.Series) - 1
	}
	data.Series[si].Values[i]++
	d.chart.SetData(data)
	if e.Action == event.Blocked {
		setText(d.blocked, fmt.Sprint(atoi(d.blocked.Text)+1))
	} else {
		setText(d.logged, fmt.Sprint(atoi(d.logged.Text)+1))
	}
}

func (d *dashboard) summary() string {
	tops := func(k source.TopKind) string {
		var vs []string
		for _, r := range d.top[k].rows {
			vs = append(vs, fmt.Sprintf("%s:%d", r.Value, r.Count))
		}
		return strings.Join(vs, ",")
	}
	var feed []string
	for _, e := range d.feed {
		feed = append(feed, string(e.Kind)+":"+e.Path)
	}
	chart := 0.0
	data := d.chart.Data()
	for i := 0; i < data.buckets(); i++ {
		chart += data.total(i)
	}
	return fmt.Sprintf("blocked=%s logged=%s bans=%s alerts=%s chart=%g ips=%q rules=%q paths=%q feed=%q",
		d.blocked.Text, d.logged.Text, d.bans.Text, d.alerts.Text, chart, tops(source.TopIPs), tops(source.TopRules), tops(source.TopPaths), strings.Join(feed, ","))
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// grid is a read-only table with a header row whose cells come from rows(); every screen's
// list of things is one of these.
type grid struct {
	*widget.Table
	headers  []string
	rows     [][]string
	selected int
	onSelect func(int)
}

func newGrid(headers []string, widths []float32, onSelect func(row int)) *grid {
	g := &grid{headers: headers, selected: -1, onSelect: onSelect}
	g.Table = widget.NewTableWithHeaders(
		func() (int, int) { return len(g.rows), len(g.headers) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.TableCellID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			if id.Row < len(g.rows) && id.Col < len(g.rows[id.Row]) {
				l.SetText(g.rows[id.Row][id.Col])
			} else {
				l.SetText("")
			}
		})
	g.ShowHeaderColumn = false
	g.CreateHeader = func() fyne.CanvasObject {
		l := widget.NewLabel("")
		l.TextStyle.Bold = true
		return l
	}
	g.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Row < 0 && id.Col >= 0 && id.Col < len(g.headers) {
			o.(*widget.Label).SetText(g.headers[id.Col])
		}
	}
	for i, w := range widths {
		g.SetColumnWidth(i, w)
	}
	g.OnSelected = func(id widget.TableCellID) {
		if id.Row < 0 || id.Row >= len(g.rows) {
			return
		}
		g.selected = id.Row
		if g.onSelect != nil {
			g.onSelect(id.Row)
		}
	}
	return g
}

// setRows replaces the table's content and clears the selection.
func (g *grid) setRows(rows [][]string) {
	g.rows = rows
	g.selected = -1
	g.UnselectAll()
	g.Refresh()
}

// pick selects a row as a click would (tests use it too).
func (g *grid) pick(row int) {
	g.Select(widget.TableCellID{Row: row, Col: 0})
}

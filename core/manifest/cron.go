package manifest

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed 5-field cron expression: minute hour day-of-month month day-of-week.
// It supports *, lists (1,2), ranges (1-5), steps (*/15, 1-30/5), month and weekday names
// (JAN, MON), 7 as Sunday, and the macros @yearly @monthly @weekly @daily @hourly. As in
// Vixie cron, when both day fields are restricted a day matches if either matches.
type Cron struct {
	expr                     string
	minute, hour, dom, month uint64
	dow                      uint64
	domStar, dowStar         bool
}

var cronMacros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseCron parses a cron expression; the error names the field that is wrong.
func ParseCron(expr string) (*Cron, error) {
	s := strings.TrimSpace(expr)
	if m, ok := cronMacros[strings.ToLower(s)]; ok {
		s = m
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return nil, fmt.Errorf("cron %q has %d fields; want 5 (minute hour day-of-month month day-of-week)", expr, len(f))
	}
	c := &Cron{expr: expr}
	var err error
	if c.minute, err = cronField(f[0], "minute", 0, 59, nil); err != nil {
		return nil, err
	}
	if c.hour, err = cronField(f[1], "hour", 0, 23, nil); err != nil {
		return nil, err
	}
	if c.dom, err = cronField(f[2], "day-of-month", 1, 31, nil); err != nil {
		return nil, err
	}
	if c.month, err = cronField(f[3], "month", 1, 12, monthNames); err != nil {
		return nil, err
	}
	if c.dow, err = cronField(f[4], "day-of-week", 0, 7, dayNames); err != nil {
		return nil, err
	}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	c.domStar = f[2] == "*" || strings.HasPrefix(f[2], "*/")
	c.dowStar = f[4] == "*" || strings.HasPrefix(f[4], "*/")
	// Refuse expressions that can never fire, like "0 0 31 2 *".
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("cron %q never fires", expr)
	}
	return c, nil
}

func cronValue(s, field string, lo, hi int, names []string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i + lo, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("cron %s field: %q is not a number in %d-%d", field, s, lo, hi)
	}
	return n, nil
}

func cronField(s, field string, lo, hi int, names []string) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > hi-lo+1 {
				return 0, fmt.Errorf("cron %s field: step %q must be a number in 1-%d", field, stepStr, hi-lo+1)
			}
			step = n
		}
		var from, to int
		switch {
		case rng == "*":
			from, to = lo, hi
			if field == "day-of-week" {
				to = 6
			}
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = cronValue(a, field, lo, hi, names); err != nil {
				return 0, err
			}
			if to, err = cronValue(b, field, lo, hi, names); err != nil {
				return 0, err
			}
			if from > to {
				return 0, fmt.Errorf("cron %s field: range %q runs backwards", field, rng)
			}
		default:
			v, err := cronValue(rng, field, lo, hi, names)
			if err != nil {
				return 0, err
			}
			from, to = v, v
			if hasStep {
				to = hi
			}
		}
		for i := from; i <= to; i += step {
			set |= 1 << uint(i)
		}
	}
	if set == 0 {
		return 0, fmt.Errorf("cron %s field %q selects nothing", field, s)
	}
	return set, nil
}

// String returns the expression as written.
func (c *Cron) String() string { return c.expr }

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }

func (c *Cron) dayMatches(t time.Time) bool {
	d, w := has(c.dom, t.Day()), has(c.dow, int(t.Weekday()))
	if c.domStar || c.dowStar {
		return d && w
	}
	return d || w
}

// Matches reports whether the minute containing t is a firing time.
func (c *Cron) Matches(t time.Time) bool {
	return has(c.minute, t.Minute()) && has(c.hour, t.Hour()) && has(c.month, int(t.Month())) && c.dayMatches(t)
}

// Next returns the first firing time strictly after t (in t's location), or the zero time if
// none exists within five years.
func (c *Cron) Next(t time.Time) time.Time {
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, t.Location()).Add(time.Minute)
	nextHour := func(t time.Time) time.Time {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, t.Location())
	}
	end := t.AddDate(5, 0, 0)
	for t.Before(end) {
		if !has(c.month, int(t.Month())) {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, t.Location())
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, t.Location())
			continue
		}
		if !has(c.hour, t.Hour()) {
			t = nextHour(t)
			continue
		}
		if !has(c.minute, t.Minute()) {
			// Jump to the next set minute within this hour, if any.
			rest := c.minute >> uint(t.Minute()+1) << uint(t.Minute()+1)
			if rest == 0 {
				t = nextHour(t)
				continue
			}
			t = t.Add(time.Duration(bits.TrailingZeros64(rest)-t.Minute()) * time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

package db

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// kindAction is one cell of a minute's counts.
type kindAction struct{ kind, action string }

// noSep replaces the separators of the minute_counts encoding in a kind or action. Kinds
// and actions are identifiers, so this never changes a real one.
var noSep = strings.NewReplacer("\t", "_", "\n", "_")

// encodeCounts writes a minute's counts as sorted "kind\taction\tcount" lines.
func encodeCounts(m map[kindAction]int64) string {
	keys := make([]kindAction, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b kindAction) int {
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.action, b.action)
	})
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k.kind)
		sb.WriteByte('\t')
		sb.WriteString(k.action)
		sb.WriteByte('\t')
		sb.WriteString(strconv.FormatInt(m[k], 10))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// eachCount calls f for every line of an encoded minute. kind and action alias b: copy
// them (string(...)) to keep them. Separators are found with IndexByte: the chart reads
// tens of thousands of lines per query, so this loop is the query's cost.
func eachCount(b []byte, f func(kind, action []byte, n int64)) error {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		t1 := bytes.IndexByte(line, '\t')
		if t1 < 0 {
			return fmt.Errorf("minute_counts: malformed line %q", line)
		}
		t2 := bytes.IndexByte(line[t1+1:], '\t')
		if t2 < 0 {
			return fmt.Errorf("minute_counts: malformed line %q", line)
		}
		t2 += t1 + 1
		n, ok := atoi(line[t2+1:])
		if !ok {
			return fmt.Errorf("minute_counts: malformed line %q", line)
		}
		f(line[:t1], line[t1+1:t2], n)
	}
	return nil
}

// seriesSet finds the per-bucket slice of a kind or action name. A minute has a handful
// of distinct names, repeated on every row: a short list searched from the last hit is
// cheaper than hashing the name on every line.
type seriesSet struct {
	names []string
	vals  [][]int64
	last  int
	n     int
}

func (s *seriesSet) get(name []byte) []int64 {
	if s.last < len(s.names) && s.names[s.last] == string(name) {
		return s.vals[s.last]
	}
	for i, v := range s.names {
		if v == string(name) {
			s.last = i
			return s.vals[i]
		}
	}
	s.names = append(s.names, string(name))
	s.vals = append(s.vals, make([]int64, s.n))
	s.last = len(s.names) - 1
	return s.vals[s.last]
}

// atoi parses a non-negative decimal count without allocating.
func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// addMinuteCounts merges a batch's per-minute counts into minute_counts.
func addMinuteCounts(ctx context.Context, tx *sql.Tx, minutes map[minuteKey]int64) error {
	byMinute := map[int64]map[kindAction]int64{}
	for k, n := range minutes {
		m := byMinute[k.minute]
		if m == nil {
			m = map[kindAction]int64{}
			byMinute[k.minute] = m
		}
		m[kindAction{k.kind, k.action}] += n
	}
	get, err := tx.PrepareContext(ctx, `SELECT counts FROM minute_counts WHERE minute = ?`)
	if err != nil {
		return err
	}
	defer get.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO minute_counts (minute, counts) VALUES (?, ?)
		ON CONFLICT (minute) DO UPDATE SET counts = excluded.counts`)
	if err != nil {
		return err
	}
	defer put.Close()
	for minute, add := range byMinute {
		var old []byte
		err := get.QueryRowContext(ctx, minute).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := eachCount(old, func(kind, action []byte, n int64) {
			add[kindAction{string(kind), string(action)}] += n
		}); err != nil {
			return err
		}
		if _, err := put.ExecContext(ctx, minute, encodeCounts(add)); err != nil {
			return err
		}
	}
	return nil
}

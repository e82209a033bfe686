package readmodel

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// DefaultLimit is the number of requests GET requests returns when the client
// asks for no particular number, as GeoReport v2 says.
const DefaultLimit = 1000

// RequestQuery is Open311 GET requests: the filters are ANDed, values within a
// filter ORed. Zero times mean unbounded: the 90-day default window is the
// API's to apply.
type RequestQuery struct {
	IDs          []string  // service_request_id; when set, every other field is ignored
	ServiceCodes []string  // service_code
	Start, End   time.Time // on ReceivedAt (requested_datetime), inclusive
	Statuses     []string  // "open" and/or "closed"
	Limit        int       // at most this many, newest first; DefaultLimit when ≤ 0
}

// Requests answers Open311 GET requests, newest first. It reads at most Limit
// entries from each of a few sorted sets (one per service code and status
// family asked for), merges them and loads only the cases it returns, so its
// cost is O(k·(log N + Limit)) for k sets, whatever N is. Cases asked for by IDs
// are all returned, however many; bounding that list is the API's job.
func (s *Store) Requests(ctx context.Context, q RequestQuery) ([]*cases.Case, error) {
	if len(q.IDs) > 0 {
		return s.byRefs(ctx, q.IDs)
	}
	families, err := parseFamilies(q.Statuses)
	if err != nil {
		return nil, err
	}
	codes := distinct(q.ServiceCodes)
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	keys := s.requestKeys(families, codes)
	// The index is read before the cases, so a case may have changed in
	// between; it is checked again, along with the exact time bounds.
	match := func(c *cases.Case) bool {
		return within(c.ReceivedAt, q.Start, q.End) &&
			(families == nil || slices.Contains(families, c.Open311Status())) &&
			(codes == nil || slices.Contains(codes, c.Service.Code))
	}
	for fetch := limit; ; fetch *= 2 {
		refs, more, err := s.newest(ctx, keys, minScore(q.Start), maxScore(q.End), fetch)
		if err != nil {
			return nil, err
		}
		cs, err := s.load(ctx, refs)
		if err != nil {
			return nil, err
		}
		cs = slices.DeleteFunc(cs, func(c *cases.Case) bool { return !match(c) })
		// Rarely some fail the re-check; then read further, or there may be
		// matches beyond what was fetched.
		if len(cs) >= limit || !more {
			return cs[:min(len(cs), limit)], nil
		}
	}
}

// requestKeys picks the sorted sets whose union is exactly the cases a query
// asks for, so no case needs loading to be filtered out.
func (s *Store) requestKeys(families, codes []string) []string {
	var keys []string
	switch {
	case codes == nil && families == nil:
		keys = append(keys, s.receivedKey())
	case codes == nil:
		for _, f := range families {
			keys = append(keys, s.familyKey(f))
		}
	case families == nil:
		for _, c := range codes {
			keys = append(keys, s.serviceKey(c))
		}
	default:
		for _, f := range families {
			for _, c := range codes {
				keys = append(keys, s.serviceFamilyKey(f, c))
			}
		}
	}
	return keys
}

// newest returns up to n refs with the highest scores in [lo, hi] across keys,
// highest first, and whether any key may hold more.
func (s *Store) newest(ctx context.Context, keys []string, lo, hi string, n int) (refs []string, more bool, err error) {
	pipe := s.rdb.TxPipeline() // one consistent view across the sets
	cmds := make([]*redis.ZSliceCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: k, Start: hi, Stop: lo, ByScore: true, Rev: true, Count: int64(n)})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, false, fmt.Errorf("read model: requests: %w", err)
	}
	var all []redis.Z
	for _, cmd := range cmds {
		all = append(all, cmd.Val()...)
		more = more || len(cmd.Val()) == n
	}
	if len(keys) > 1 {
		// Ties broken by ref, descending, as Redis orders a single set.
		slices.SortFunc(all, func(a, b redis.Z) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(b.Member.(string), a.Member.(string)))
		})
	}
	all = all[:min(len(all), n)]
	refs = make([]string, len(all))
	for i, z := range all {
		refs[i] = z.Member.(string)
	}
	return refs, more, nil
}

// byRefs loads the named cases, newest first, leaving out unknown refs.
func (s *Store) byRefs(ctx context.Context, refs []string) ([]*cases.Case, error) {
	cs, err := s.load(ctx, distinct(refs))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(cs, func(a, b *cases.Case) int {
		return cmp.Or(b.ReceivedAt.Compare(a.ReceivedAt), strings.Compare(b.Ref, a.Ref))
	})
	return cs, nil
}

// parseFamilies reads Open311 status values; nil means both families.
func parseFamilies(statuses []string) ([]string, error) {
	var fams []string
	for _, st := range statuses {
		f := strings.ToLower(strings.TrimSpace(st))
		if f != "open" && f != "closed" {
			return nil, &cases.InputError{Field: "status", Reason: fmt.Sprintf("%q is not open or closed", st)}
		}
		if !slices.Contains(fams, f) {
			fams = append(fams, f)
		}
	}
	if len(fams) == 2 {
		return nil, nil
	}
	return fams, nil
}

// distinct drops empty and repeated values, keeping order; nil if none remain.
func distinct(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// Updates answers GET servicerequestupdates: every public update whose time is
// in [start, end] (zero meaning unbounded), oldest first. Nothing is consumed:
// overlapping windows each return the updates they cover, as FixMyStreet's
// polling relies on. limit ≤ 0 means all of them; FixMyStreet does not page,
// so a limit drops updates it would then never see.
func (s *Store) Updates(ctx context.Context, start, end time.Time, limit int) ([]cases.Update, error) {
	page := int64(max(limit, 0)) // 0: no LIMIT, one read
	var out []cases.Update
	for offset := int64(0); ; offset += page {
		members, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: s.feedKey(), Start: minScore(start), Stop: maxScore(end), ByScore: true, Offset: offset, Count: page,
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("read model: updates: %w", err)
		}
		if len(members) == 0 {
			break
		}
		docs, err := s.rdb.HMGet(ctx, s.feedDocKey(), members...).Result()
		if err != nil {
			return nil, fmt.Errorf("read model: updates: %w", err)
		}
		for i, d := range docs {
			doc, ok := d.(string)
			if !ok {
				continue // lost (a flushed Redis) since the range read
			}
			var u cases.Update
			if err := json.Unmarshal([]byte(doc), &u); err != nil {
				return nil, fmt.Errorf("read model: decode update %s: %w", members[i], err)
			}
			// The score is floored to the microsecond: drop the few in a
			// bound's microsecond that fall outside it.
			if within(u.At, start, end) {
				out = append(out, u)
			}
		}
		if page == 0 || int64(len(members)) < page || len(out) >= limit {
			break
		}
	}
	// Equal microseconds are ordered by case and sequence; finish the order by
	// the exact time, keeping that for true ties.
	slices.SortStableFunc(out, func(a, b cases.Update) int { return a.At.Compare(b.At) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

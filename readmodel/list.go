package readmodel

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// SortField is what List orders cases by.
type SortField string

// The orders List offers.
const (
	SortReceived SortField = "received"
	SortUpdated  SortField = "updated"
	SortDue      SortField = "due" // cases without a due time (and closed cases) come last
)

// Page sizes for List.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ListQuery is a staff work-queue query. Filters are ANDed; an empty field does
// not filter.
type ListQuery struct {
	Status      cases.Status
	Family      string // "open" or "closed" (the Open311 status family)
	Department  string
	ServiceCode string
	// Overdue keeps open cases whose DueAt is before Now (to the microsecond).
	Overdue bool
	Now     time.Time
	// Search keeps the cases found by every word of it (Terms): words of
	// the reference, description, address or reporter's name.
	Search string
	// Area keeps the cases whose point is in the named area (UseAreas).
	Area string
	// Escalation keeps open cases escalated: "any", or the level their
	// latest escalation reached.
	Escalation string
	// Source keeps the cases whose first report came that way.
	Source cases.Source
	// Assignee keeps the cases assigned to that person or queue (any case).
	Assignee string
	// Scope, when not nil, keeps only the cases a member of staff may see:
	// those of its departments, or assigned to its person.
	Scope *Scope

	Sort SortField // SortReceived when empty
	Desc bool

	Limit  int    // page size: DefaultPageSize when ≤ 0, at most MaxPageSize
	Offset int    // cases to skip; ignored when Cursor is set
	Cursor string // ListPage.Next of the previous page
}

// ListPage is one page of a List.
type ListPage struct {
	Cases []*cases.Case
	Total int64 // cases matching the filters, across all pages
	// AtLeast says Total is a floor: counting stopped at CountLimit.
	AtLeast bool
	Next    string // cursor for the following page; "" on the last page
}

// CountLimit is as far as a List that intersects filters counts the
// matches: past it, counting would cost as much as reading them all, and
// ListPage.Total is then CountLimit with AtLeast set. A list one index
// answers, or one sorted by an order it has to intersect for, counts all.
const CountLimit = 2000

// countLimit is CountLimit; tests lower it.
var countLimit = CountLimit

// List answers a staff work-queue query with its total count. Filters are
// sorted sets the case must be in; Redis does the intersecting and sorting.
//
// Cost: a query that one sorted set already answers in order (no filter, or
// one filter other than Overdue under SortReceived, or Overdue, Department or
// both under SortDue) is a range read: O(log N + page); a department's cases
// without a due time, which come last under SortDue, are found (O(R·log R) for
// R of them) only by a page that reaches them. Any other is planned by
// listPlanScript: it reads no more than the smallest set involved (Overdue
// counting as the overdue range of the due index), walks the order until the
// page is full when the matches are dense, else intersects in Redis
// (O(S·k + M·log M) for S members in the smallest set, k sets and M matches).
// Only the page's cases are loaded. Measured with 10,000 and 100,000 cases:
// see BenchmarkList and docs/benchmarks.md.
//
// A cursor resumes after the last case of its page even if cases were added
// since; offsets shift when they are.
func (s *Store) List(ctx context.Context, q ListQuery) (ListPage, error) {
	if _, _, err := s.listFilters(q); err != nil {
		return ListPage{}, err
	}
	var scope string
	if q.Scope != nil {
		key, err := s.scopeKey(ctx, *q.Scope)
		if err != nil {
			return ListPage{}, err
		}
		if key == "" {
			return ListPage{}, nil // a scope with nothing in it
		}
		if d, ok := strings.CutPrefix(key, s.departmentKey("")); ok && (q.Department == "" || q.Department == d) {
			// The scope is one department's cases, which is what the
			// department filter says: its own indexes (by due, open or
			// closed) answer, often as one range.
			q.Department, q.Scope = d, nil
		} else {
			scope = key
		}
	}
	sets, overdue, err := s.listFilters(q)
	if err != nil {
		return ListPage{}, err
	}
	if scope != "" {
		sets = append(sets, scope)
	}
	sortBy := q.Sort
	if sortBy == "" {
		sortBy = SortReceived
	}
	sortKey, err := s.sortKey(sortBy)
	if err != nil {
		return ListPage{}, err
	}
	// A department's own due index holds exactly the due index's cases of that
	// department: a smaller set to range over or intersect.
	dueKey := s.dueKey()
	if q.Department != "" {
		dueKey = s.departmentDueKey(q.Department)
		if sortBy == SortDue {
			sortKey = dueKey
		}
	}
	// Overdue by last update, the matches are all among the overdue cases,
	// which lateKey holds in that order once swept up to now: walking it
	// stops at a page instead of sorting every match.
	lateExact := false
	if q.Department == "" && sortBy == SortUpdated && overdue != "" {
		if lateExact, err = s.sweepLate(ctx, overdue); err != nil {
			return ListPage{}, err
		}
		sortKey = s.lateKey()
	}
	// Overdue or open, a department's matches are all among its open cases:
	// by last update, their own index is the order to walk (or intersect
	// with), not every case's.
	if q.Department != "" && sortBy == SortUpdated && q.Family != "closed" && (overdue != "" || q.Family == "open") {
		if sortKey, err = s.departmentOpenByUpdate(ctx, q.Department); err != nil {
			return ListPage{}, err
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	if q.Offset < 0 {
		return ListPage{}, &cases.InputError{Field: "offset", Reason: "is negative"}
	}
	desc := "0"
	if q.Desc {
		desc = "1"
	}
	var cur cursor
	if q.Cursor != "" {
		if cur, err = decodeCursor(q.Cursor, sortBy, q.Desc); err != nil {
			return ListPage{}, err
		}
	}

	// One sorted set that holds exactly the matches, in order, if there is one;
	// restKey, if set, holds it and the matches without a due time. The due
	// indexes hold open cases only, so a list of open (or all) cases by due
	// is a range of one, followed by the rest of the open (or all) cases.
	var rangeKey, rangeMax, restKey string
	plain := q.Status == "" && q.ServiceCode == "" && q.Search == "" && q.Area == "" && q.Escalation == "" && q.Source == "" && q.Assignee == "" && q.Scope == nil
	switch {
	case len(sets) == 0 && overdue == "" && sortBy != SortDue:
		rangeKey, rangeMax = sortKey, "+inf"
	case len(sets) == 1 && overdue == "" && sortBy == SortReceived:
		rangeKey, rangeMax = sets[0], "+inf"
	case plain && q.Family != "" && q.Department != "" && overdue == "" && sortBy == SortReceived:
		rangeKey, rangeMax = s.deptFamilyKey(q.Family, q.Department), "+inf"
	case plain && q.Family != "closed" && overdue != "" && sortBy == SortDue:
		rangeKey, rangeMax = dueKey, overdue
	case plain && q.Family != "closed" && sortBy == SortDue:
		rangeKey, rangeMax = dueKey, "+inf"
		switch {
		case q.Family == "open" && q.Department != "":
			restKey = s.deptFamilyKey("open", q.Department)
		case q.Family == "open":
			restKey = s.familyKey("open")
		case q.Department != "":
			restKey = s.departmentKey(q.Department)
		default:
			restKey = s.receivedKey()
		}
	}
	var res []any
	if rangeKey != "" {
		keys := []string{rangeKey}
		if restKey != "" {
			keys = append(keys, restKey)
		}
		res, err = listRangeScript.Run(ctx, s.rdb, keys, "-inf", rangeMax, desc, q.Offset, limit, cur.mode, cur.score, cur.ref).Slice()
		if err != nil {
			return ListPage{}, fmt.Errorf("read model: list: %w", err)
		}
		return s.listPage(ctx, res, sortBy, q.Desc, false)
	}
	if overdue != "" {
		// The due indexes hold open cases only, a department's only its own:
		// the open and the department filters add nothing to them.
		sets = slices.DeleteFunc(sets, func(k string) bool {
			return k == s.familyKey("open") || (q.Department != "" && (k == s.departmentKey(q.Department) || k == s.deptFamilyKey("open", q.Department)))
		})
	}
	if len(sets) == 0 && overdue == "" {
		sets = []string{s.receivedKey()}
	}
	// An agent's overdue cases (their scope's union and nothing else)
	// number at least their departments' overdue cases, one count of each
	// department's due index: when those reach the count limit, the script
	// need not count the union's one by one.
	var floor int64
	if overdue != "" && scope != "" && len(sets) == 1 && sets[0] == scope && len(q.Scope.Departments) > 0 {
		counts := make([]*redis.IntCmd, len(q.Scope.Departments))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, d := range q.Scope.Departments {
				counts[i] = p.ZCount(ctx, s.departmentDueKey(d), "-inf", overdue)
			}
			return nil
		}); err != nil {
			return ListPage{}, fmt.Errorf("read model: list: %w", err)
		}
		for _, c := range counts {
			floor += c.Val()
		}
	}
	keys := append([]string{sortKey, dueKey, s.tmpKey("o"), s.tmpKey("s"), s.tmpKey("a"), s.receivedKey()}, sets...)
	res, err = listPlanScript.Run(ctx, s.rdb, keys, desc, q.Offset, limit, cur.mode, cur.score, cur.ref, overdue,
		boolArg(sortBy == SortDue), boolArg(listWalk), boolArg(sortBy == SortReceived), countLimit, listWalkCap, listOverdueBuild, floor,
		boolArg(sortKey == s.lateKey()), boolArg(lateExact)).Slice()
	if err != nil {
		return ListPage{}, fmt.Errorf("read model: list: %w", err)
	}
	page, err := s.listPage(ctx, append(res[:2:2], res[3:]...), sortBy, q.Desc, true)
	page.AtLeast = res[2].(int64) == 1
	return page, err
}

// sweepLate brings lateKey up to the overdue bound (a due score, inclusive):
// the open cases that have fallen due since the last sweep are put in it,
// scored by their last update, and the bound is kept as the swept time. The
// first sweep of a read model puts every overdue case in (one pass of the
// due index's overdue range); after it, each sweep reads only the cases that
// fell due since, and projections keep the index as cases change. exact says
// it holds exactly the cases overdue at the bound; a bound earlier than one
// already swept (a clock behind another api's) finds it holding more, which
// the list checks against the due index.
func (s *Store) sweepLate(ctx context.Context, bound string) (exact bool, err error) {
	n, err := sweepLateScript.Run(ctx, s.rdb, []string{s.lateKey(), s.sweptKey(), s.dueKey(), s.updatedKey()}, bound).Int()
	if err != nil {
		return false, fmt.Errorf("read model: list: %w", err)
	}
	return n == 1, nil
}

// sweepLateScript: KEYS: late, swept, due, updated. ARGV: the bound.
// Returns 1 when late holds exactly the open cases due by the bound.
var sweepLateScript = redis.NewScript(`
local swept = redis.call('GET', KEYS[2])
local from = '-inf'
if swept then
  if tonumber(swept) >= tonumber(ARGV[1]) then
    if tonumber(swept) == tonumber(ARGV[1]) then return 1 end
    return 0
  end
  from = '(' .. swept
end
local refs = redis.call('ZRANGE', KEYS[3], from, ARGV[1], 'BYSCORE')
for i = 1, #refs, 1000 do
  local chunk = {unpack(refs, i, math.min(i + 999, #refs))}
  local at = redis.call('ZMSCORE', KEYS[4], unpack(chunk))
  local args = {'ZADD', KEYS[1]}
  for j, ref in ipairs(chunk) do
    if at[j] then
      args[#args + 1] = at[j]
      args[#args + 1] = ref
    end
  end
  if #args > 2 then redis.call(unpack(args)) end
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
`)

// departmentOpenByUpdate returns the department's index of open cases by last
// update if it holds every open case of the department, else the index of
// every case by last update. A read model projected before the index existed
// lacks it until `casebridge reindex` has rebuilt it, and lists must not go
// short meanwhile. Every projection writes both sets in one script, so the
// index is never larger than the department's open cases: the same size
// means the same cases.
func (s *Store) departmentOpenByUpdate(ctx context.Context, dept string) (string, error) {
	var byUpdate, open *redis.IntCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		byUpdate = p.ZCard(ctx, s.departmentOpenUpdatedKey(dept))
		open = p.ZCard(ctx, s.deptFamilyKey("open", dept))
		return nil
	}); err != nil {
		return "", fmt.Errorf("read model: list: %w", err)
	}
	if byUpdate.Val() == open.Val() {
		return s.departmentOpenUpdatedKey(dept), nil
	}
	return s.updatedKey(), nil
}

// listPage loads a page the scripts found. res: total, start (walked: whether
// more follow), then ref and score string per case of the page.
func (s *Store) listPage(ctx context.Context, res []any, sortBy SortField, desc, walked bool) (ListPage, error) {
	total, start := res[0].(int64), res[1].(int64)
	refs := make([]string, 0, (len(res)-2)/2)
	for i := 2; i+1 < len(res); i += 2 {
		refs = append(refs, res[i].(string))
	}
	page := ListPage{Total: total}
	var err error
	if page.Cases, err = s.load(ctx, refs); err != nil {
		return ListPage{}, err
	}
	more := start+int64(len(refs)) < total
	if walked {
		more = start == 1
	}
	if n := len(refs); n > 0 && more {
		page.Next = cursor{ref: refs[n-1], score: res[len(res)-1].(string)}.encode(sortBy, desc)
	}
	return page, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// listWalk lets List walk an order (listPlanScript, step 3); tests turn it
// off to check the intersection answers the same.
var listWalk = true

// listWalkCap, when 0 or more, is the most candidates a walk reads before it
// gives up (a chunk at least); tests set it to reach the intersection after
// a walk that gave up.
var listWalkCap = -1

// listOverdueBuild is the largest smaller side (the overdue range or the
// smallest filter set) of an Overdue list with filters that listPlanScript
// intersects whole, in C, to count it; past it, counting from Lua stops
// after about CountLimit matches and reads less. Tests lower it to 0.
var listOverdueBuild = 4 * CountLimit

// tmpKey names the sets listPlanScript builds while it answers: written and
// deleted within the one script, so no other command ever sees them.
func (s *Store) tmpKey(part string) string { return s.ns + "tmp:list:" + part }

// Scope is what a member of staff may see: the cases of Departments, of
// Teams ("department/team"), and those assigned to Assignee.
type Scope struct {
	Departments []string
	Teams       []string
	Assignee    string
}

// scopeKey returns a sorted set of the cases in scope, scored by received
// time like the indexes it joins; "" when the scope holds nothing.
//
// A scope of one non-empty set is that set. A union of several is kept
// (scopeUnionScript) under a name that holds the scope generation, which
// every projection moving a case into or out of a department, team or
// assignee's set moves on (projectScript): a union is reused, exact, until
// such a change, and a stale one is never read again, only left to expire.
func (s *Store) scopeKey(ctx context.Context, sc Scope) (string, error) {
	var keys []string
	for _, d := range sc.Departments {
		keys = append(keys, s.departmentKey(d))
	}
	for _, t := range sc.Teams {
		keys = append(keys, s.teamKey(t))
	}
	if sc.Assignee != "" {
		keys = append(keys, s.assigneeKey(sc.Assignee))
	}
	// Most scopes are one department and a person with nothing assigned:
	// the department's own set then is the scope, with no union to build.
	cards := make([]*redis.IntCmd, len(keys))
	var gen *redis.StringCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cards[i] = p.ZCard(ctx, k)
		}
		gen = p.Get(ctx, s.scopeGenKey()) // last: a real error is returned before its redis.Nil
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read model: scope: %w", err)
	}
	var held []string
	for i, k := range keys {
		if cards[i].Val() > 0 {
			held = append(held, k)
		}
	}
	keys = held
	switch len(keys) {
	case 0:
		return "", nil
	case 1:
		return keys[0], nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\x00")))
	key := s.ns + "tmp:scope:" + hex.EncodeToString(sum[:8]) + ":" + gen.Val()
	if err := scopeUnionScript.Run(ctx, s.rdb, append([]string{key}, keys...), int(scopeUnionTTL/time.Second)).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read model: scope: %w", err)
	}
	return key, nil
}

// scopeUnionTTL is how long a scope's union outlives its last use: it is
// exact while the scope generation stands, so this bounds only the memory
// of agents gone quiet.
const scopeUnionTTL = 60 * time.Second

// scopeUnionScript keeps KEYS[1] as the union of the other keys (MAX: every
// one scores a case by its received time): built if it is not there, its
// expiry (ARGV[1] seconds) renewed if it is, in one step, so it cannot
// expire between being found and being read.
var scopeUnionScript = redis.NewScript(`
if redis.call('EXPIRE', KEYS[1], ARGV[1]) == 1 then return 1 end
local args = {'ZUNIONSTORE', KEYS[1], #KEYS - 1}
for i = 2, #KEYS do args[#args + 1] = KEYS[i] end
args[#args + 1] = 'AGGREGATE'
args[#args + 1] = 'MAX'
redis.call(unpack(args))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 0
`)

func (s *Store) sortKey(f SortField) (string, error) {
	switch f {
	case SortReceived:
		return s.receivedKey(), nil
	case SortUpdated:
		return s.updatedKey(), nil
	case SortDue:
		return s.dueKey(), nil
	}
	return "", &cases.InputError{Field: "sort", Reason: fmt.Sprintf("%q is not received, updated or due", f)}
}

// listFilters turns the filters into the sorted sets a case must be in, and
// for Overdue the highest due score (inclusive) it may have; "" for none.
func (s *Store) listFilters(q ListQuery) (sets []string, overdue string, err error) {
	if q.Status != "" {
		if !q.Status.Valid() {
			return nil, "", &cases.InputError{Field: "status", Reason: fmt.Sprintf("unknown status %q", q.Status)}
		}
		sets = append(sets, s.statusKey(q.Status))
	}
	switch {
	case q.Family != "" && q.Family != "open" && q.Family != "closed":
		return nil, "", &cases.InputError{Field: "family", Reason: fmt.Sprintf("%q is not open or closed", q.Family)}
	case q.Family != "" && q.ServiceCode != "":
		sets = append(sets, s.serviceFamilyKey(q.Family, q.ServiceCode))
	case q.Family != "":
		sets = append(sets, s.familyKey(q.Family))
	case q.ServiceCode != "":
		sets = append(sets, s.serviceKey(q.ServiceCode))
	}
	if q.Search != "" {
		terms := Terms(q.Search)
		if len(terms) == 0 {
			return nil, "", &cases.InputError{Field: "q", Reason: "has no word to search for: use a word of two letters or more, not one as common as 'the'"}
		}
		for _, t := range terms {
			sets = append(sets, s.termKey(t))
		}
	}
	if q.Area != "" {
		sets = append(sets, s.areaKey(q.Area))
	}
	switch q.Escalation {
	case "":
	case "any":
		sets = append(sets, s.escalatedKey())
	default:
		sets = append(sets, s.escalationKey(q.Escalation))
	}
	if q.Source != "" {
		sets = append(sets, s.sourceKey(string(q.Source)))
	}
	if q.Assignee != "" {
		sets = append(sets, s.assigneeKey(q.Assignee))
	}
	switch {
	case q.Department != "" && q.Family != "" && q.ServiceCode == "":
		// One set for the two: a department's open (or closed) cases.
		sets = slices.DeleteFunc(sets, func(k string) bool { return k == s.familyKey(q.Family) })
		sets = append(sets, s.deptFamilyKey(q.Family, q.Department))
	case q.Department != "":
		sets = append(sets, s.departmentKey(q.Department))
	}
	if q.Overdue {
		if q.Now.IsZero() {
			return nil, "", &cases.InputError{Field: "now", Reason: "is needed to tell which cases are overdue"}
		}
		// The due set holds open cases only, so it is the whole filter.
		overdue = strconv.FormatInt(q.Now.UnixMicro()-1, 10)
	}
	return sets, overdue, nil
}

// cursor is the position after the last case of a page: its sort value as
// Redis printed it (empty: none, under SortDue) and its ref. mode tells the
// scripts which: "" no cursor, "s" a score, "n" no score.
type cursor struct {
	mode, score, ref string
}

func (c cursor) encode(f SortField, desc bool) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s|%t|%s|%s", f, desc, c.score, c.ref)))
}

// decodeCursor rejects a cursor made for another order, where it would
// silently skip or repeat cases.
func decodeCursor(s string, f SortField, desc bool) (cursor, error) {
	bad := &cases.InputError{Field: "cursor", Reason: "is not a cursor for this order"}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.SplitN(string(b), "|", 4)
	if len(parts) != 4 || parts[0] != string(f) || parts[1] != strconv.FormatBool(desc) || parts[3] == "" {
		return cursor{}, bad
	}
	c := cursor{mode: "s", score: parts[2], ref: parts[3]}
	if c.score == "" && f == SortDue {
		c.mode = "n" // a case with no due time
	} else if _, err := strconv.ParseFloat(c.score, 64); err != nil {
		return cursor{}, bad
	}
	return c, nil
}

// listLua holds the helpers both list scripts use.
const listLua = `
-- Byte order, as Redis orders members; Lua's own < follows the locale.
local function less(x, y)
  for i = 1, math.min(#x, #y) do
    local a, b = string.byte(x, i), string.byte(y, i)
    if a ~= b then return a < b end
  end
  return #x < #y
end
-- How many leading items of 1..n satisfy ok, ok being true then false.
local function prefix(n, ok)
  local lo, hi = 0, n
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if ok(mid) then lo = mid else hi = mid - 1 end
  end
  return lo
end

-- rangePage pages through key's score range lo..hi. rest, if given, holds
-- the range (whole: lo..hi is then -inf..+inf) and more members, which follow
-- the range in member order whichever the direction: the cases without a due
-- time after a due index. Returns total, start, then ref, score (empty for
-- the rest) per case.
local function rangePage(key, rest, lo, hi, desc, offset, count, cmode, cscore, cref)
  local nr = redis.call('ZCOUNT', key, lo, hi)
  local nn, rs = 0, nil
  if rest then nn = redis.call('ZCARD', rest) - redis.call('ZCARD', key) end
  local function restList()
    if not rs then
      rs = redis.call('ZDIFF', 2, rest, key)
      table.sort(rs, less)
    end
    return rs
  end
  local total = nr + nn
  local start = offset
  if cmode == 's' then
    local now = redis.call('ZSCORE', key, cref)
    if now and tonumber(now) == tonumber(cscore) then
      -- The cursor's case is still in place: resume right after it.
      if desc then
        start = redis.call('ZREVRANK', key, cref) - redis.call('ZCOUNT', key, '(' .. hi, '+inf') + 1
      else
        start = redis.call('ZRANK', key, cref) - redis.call('ZCOUNT', key, '-inf', '(' .. lo) + 1
      end
    elseif desc then
      -- It moved: resume after its old score (cases tied with it show again).
      start = redis.call('ZCOUNT', key, '(' .. cscore, hi)
    else
      start = redis.call('ZCOUNT', key, lo, '(' .. cscore)
    end
    if start < 0 then start = 0 end
  elseif cmode == 'n' then
    local r = restList()
    start = nr + prefix(#r, function(i) return not less(cref, r[i]) end)
  end
  local out = {total, start}
  if start < nr then
    local page
    if desc then
      page = redis.call('ZRANGE', key, hi, lo, 'BYSCORE', 'REV', 'LIMIT', start, count, 'WITHSCORES')
    else
      page = redis.call('ZRANGE', key, lo, hi, 'BYSCORE', 'LIMIT', start, count, 'WITHSCORES')
    end
    for i = 1, #page do out[#out + 1] = page[i] end
  end
  local from, left = math.max(start - nr, 0), count - (#out - 2) / 2
  if nn > 0 and left > 0 then
    local r = restList()
    for i = from + 1, math.min(from + left, #r) do
      out[#out + 1] = r[i]
      out[#out + 1] = ''
    end
  end
  return out
end
`

// listRangeScript pages through one sorted set's score range (rangePage).
// KEYS: the set[, the superset]. ARGV: min, max, desc, offset, count, cursor
// mode, score, ref. Returns total, start, then ref, score (empty for the rest)
// per case.
var listRangeScript = redis.NewScript(listLua + `
return rangePage(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8])
`)

// listPlanScript answers a list no one sorted set holds, reading no more than
// the smallest set involved, and then in Redis's own C loops where it can:
//
//  1. Overdue with no other filter is counted by ZCOUNT and left to the walk
//     (step 3), which in an order other than due asks each candidate's due
//     time (ZMSCORE of the due index). Sorted by due with filters whose
//     smaller side (the overdue range or the smallest filter set) is over
//     listOverdueBuild, it is counted from that side a chunk at a time, to
//     CountLimit, and the walk checks the filters. Otherwise, and when a
//     walk gives up, Overdue becomes a set (checked by a walk when that side
//     is no larger than listOverdueBuild): the
//     overdue range of the due index copied aside
//     (ZRANGESTORE) when it is smaller than every filter set, else the
//     filters intersected with the due index, scored by due time, less those
//     not yet due (ZINTERSTORE, ZREMRANGEBYSCORE). Either costs the smaller.
//  2. The total is ZINTERCARD of the sets: the smallest set's members looked
//     up in the others, until CountLimit matches are found.
//  3. The page is found by walking the order, a chunk at a time, keeping
//     the members in every set (ZMSCORE, the smallest set first), and
//     stopping as soon as the page is full, when the matches are dense
//     enough that this reads less than step 4 would. Sorted by received
//     time, the walk goes through the smallest filter set (every filter set
//     is scored by received time), not every case; sorted by due time,
//     through the (department's) due index, and a page that reaches the
//     matches with no due time is left to step 4. A walk that reads more
//     than its budget (the matches cluster at the far end) stops and leaves
//     it to step 4. An Overdue walk's budget is twice the smaller of the
//     overdue range and the smallest filter set: overdue cases are the old
//     ones, so the newest end of any order holds few of them.
//  4. Otherwise the matches are intersected into a set scored by the order
//     (ZINTERSTORE with weight 0 for the filters) and the page read from it
//     as from any index (rangePage): O(S·k + M·log M) inside Redis for S
//     members in the smallest set, k sets and M matches.
//
// The temporary sets are deleted before the script ends.
// A filter set that holds every case (a word in every address) filters
// nothing and is left out, unless it is the only set.
// KEYS: the sort set, the due set, three temporary keys (overdue, sorted,
// all), the set of every case, then the filter sets (none only with Overdue).
// ARGV: desc, offset, count, cursor mode, score, ref, overdue max (empty for
// none), whether the sort set is the due set, whether to walk at all,
// whether the sort set is scored by received time, CountLimit, the most
// candidates a walk may read before it gives up (-1: as it judges), the
// largest smaller side of an Overdue list with filters that is intersected
// at once rather than counted from Lua (listOverdueBuild), a floor under
// the total known without counting (0 for none: an Overdue list counted from
// Lua is counted no further once the floor reaches CountLimit), whether
// the sort set is the overdue cases by last update (lateKey), and whether it
// holds exactly the cases overdue at the bound (sweepLate).
// Returns total, 1 if matches follow the page (else 0), 1 if the total is
// a floor (CountLimit reached), then ref and score (empty for a case with no
// due time) per case.
var listPlanScript = redis.NewScript(listLua + `
local key, due, tmpO, tmpS, tmpA = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local desc, offset, count = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local cmode, cscore, cref = ARGV[4], ARGV[5], ARGV[6]
local overdue, sortDue, mayWalk = ARGV[7], ARGV[8] == '1', ARGV[9] == '1'
local sortReceived, countLimit, walkCap = ARGV[10] == '1', tonumber(ARGV[11]), tonumber(ARGV[12])
local buildMax, floor = tonumber(ARGV[13]), tonumber(ARGV[14])
local sortLate, lateExact = ARGV[15] == '1', ARGV[16] == '1'
local filters = {}
for i = 7, #KEYS do filters[#filters + 1] = KEYS[i] end
local function finish(out)
  -- UNLINK: a large temporary set is freed off the main thread.
  redis.call('UNLINK', tmpO, tmpS, tmpA)
  return out
end
local function weighted(cmd, dest, first, rest, w)
  local args = {cmd, dest, #rest + 1, first}
  for _, k in ipairs(rest) do args[#args + 1] = k end
  args[#args + 1] = 'WEIGHTS'
  args[#args + 1] = w
  for _ in ipairs(rest) do args[#args + 1] = 0 end
  return redis.call(unpack(args))
end
-- How many members the sets share, counting no further than limit (0: all).
local function interCard(list, limit)
  if #list == 1 then return redis.call('ZCARD', list[1]) end
  local args = {'ZINTERCARD', #list}
  for _, k in ipairs(list) do args[#args + 1] = k end
  if limit > 0 then
    args[#args + 1] = 'LIMIT'
    args[#args + 1] = limit
  end
  return redis.call(unpack(args))
end

-- The filter sets, smallest first, less those that hold every case: every
-- index holds cases only, so one as large as the set of all is that set.
local size = {}
for _, k in ipairs(filters) do size[k] = redis.call('ZCARD', k) end
if #filters > 1 or overdue ~= '' then
  local every, kept = redis.call('ZCARD', KEYS[6]), {}
  for _, k in ipairs(filters) do
    if size[k] < every then kept[#kept + 1] = k end
  end
  if #kept == 0 and overdue == '' then kept = {filters[1]} end
  filters = kept
end
table.sort(filters, function(a, b) return size[a] < size[b] end)
local small = math.huge
if #filters > 0 then small = size[filters[1]] end

-- Which of members (a ZRANGE reply, WITHSCORES when step is 2) are in
-- every set of checks and, when bound is given, in the due set with a score
-- of at most bound, asking each only about the survivors: their indexes.
local function survivors(members, step, checks, bound)
  local idx = {}
  for i = 1, #members, step do idx[#idx + 1] = i end
  local function keep(set, ok)
    if #idx == 0 then return end
    local ask = {}
    for j, i in ipairs(idx) do ask[j] = members[i] end
    local sc = redis.call('ZMSCORE', set, unpack(ask))
    local kept = {}
    for j, i in ipairs(idx) do if sc[j] and ok(sc[j]) then kept[#kept + 1] = i end end
    idx = kept
  end
  if bound then keep(due, function(v) return tonumber(v) <= bound end) end
  for _, set in ipairs(checks) do keep(set, function() return true end) end
  return idx
end

-- 1. Overdue. The walk (step 3) goes through the overdue range of the due
-- index or, in another order, asks each candidate's due time (lateWalk);
-- with filters, the overdue set below is built at once (built) when the
-- smaller of the overdue range and the smallest filter set is small enough,
-- and the walk checks it; else, sorted by due, the total is counted from
-- that smaller side a chunk at a time, to countLimit. A walk that gives up
-- builds it too.
local sets = {}
for _, k in ipairs(filters) do sets[#sets + 1] = k end
local total, capped, late, lateWalk, built = nil, 0, 0, false, false
local function overdueSet()
  if late <= small then
    redis.call('ZRANGESTORE', tmpO, due, '-inf', overdue, 'BYSCORE')
    table.insert(sets, 1, tmpO)
  else
    weighted('ZINTERSTORE', tmpO, due, filters, 1)
    redis.call('ZREMRANGEBYSCORE', tmpO, '(' .. overdue, '+inf')
    sets = {tmpO}
  end
end
if overdue ~= '' then
  late = redis.call('ZCOUNT', due, '-inf', overdue)
  if late == 0 or small == 0 then return {0, 0, 0} end
  -- In another order than due, counting from Lua costs more than the
  -- intersection it saves: a side too large to build at once goes below.
  if mayWalk and cmode ~= 'n' and (sortDue or sortLate or #filters == 0 or math.min(late, small) <= buildMax) then
    lateWalk = true
    if #filters == 0 then
      total = late
    elseif lateExact then
      -- The sort set is the overdue cases: count in C, no due time asked.
      local withLate = {key}
      for _, k in ipairs(filters) do withLate[#withLate + 1] = k end
      total = interCard(withLate, countLimit)
      if total >= countLimit then total, capped = countLimit, 1 end
    elseif math.min(late, small) <= buildMax then
      -- Small enough to intersect whole in C, cheaper than asking each
      -- member's score from Lua; the walk then checks the set built.
      overdueSet()
      built = true
    else
      -- Count to countLimit, a chunk of the smaller side at a time: this
      -- stops after about countLimit matches, where an intersection reads
      -- the whole of the smaller side.
      local bound, from, checks = tonumber(overdue), filters[1], {unpack(filters, 2)}
      if late <= small then from, checks, bound = due, filters, nil end
      total = 0
      if floor >= countLimit then total = countLimit end
      local pos = 0
      while total < countLimit do
        local stop = pos + 1023
        if from == due then stop = math.min(stop, late - 1) end
        if stop < pos then break end
        local batch = redis.call('ZRANGE', from, pos, stop)
        if #batch == 0 then break end
        total = total + #survivors(batch, 1, checks, bound)
        pos = pos + #batch
      end
      if total >= countLimit then total, capped = countLimit, 1 end
    end
  else
    overdueSet()
  end
  small = math.min(late, small)
end

-- 2. The total.
-- Counting stops at countLimit: past it, the total is a floor (capped), and
-- a walk reads no further than the page and the count need.
if not total then
  total = interCard(sets, countLimit)
  if #sets > 1 and total >= countLimit then capped = 1 end
end
if total == 0 then return finish({0, 0, 0}) end
-- Sorted by due, matches with no due time come last, after the due index.
local nulls = nil
local function countNulls()
  if not nulls then
    nulls = 0
    if sortDue and overdue == '' then
      local withDue = {due}
      for _, k in ipairs(sets) do withDue[#withDue + 1] = k end
      nulls = interCard(sets, 0) - interCard(withDue, 0)
    end
  end
  return nulls
end

-- 3. Walk the order, when that reads less than intersecting costs.
if mayWalk and cmode ~= 'n' and (overdue == '' or sortDue or lateWalk) then
  local walk, checks = key, sets
  if sortReceived and #filters > 0 then
    -- The smallest filter set, in the same order, holds every match.
    walk, checks = filters[1], {}
    for _, k in ipairs(sets) do
      if k ~= walk then checks[#checks + 1] = k end
    end
  end
  local n = redis.call('ZCARD', walk)
  local first, last = 0, n - 1
  if sortDue and overdue ~= '' then -- the due set's members up to the bound
    local late = redis.call('ZCOUNT', walk, '-inf', overdue)
    if desc then first = n - late else last = late - 1 end
  end
  local pos, skip = first, offset
  if cmode == 's' then
    skip = 0
    local now = redis.call('ZSCORE', walk, cref)
    if now and tonumber(now) == tonumber(cscore) then
      if desc then pos = redis.call('ZREVRANK', walk, cref) + 1 else pos = redis.call('ZRANK', walk, cref) + 1 end
    elseif desc then
      pos = redis.call('ZCOUNT', walk, '(' .. cscore, '+inf')
    else
      pos = redis.call('ZCOUNT', walk, '-inf', '(' .. cscore)
    end
    pos = math.max(pos, first)
  end
  -- A candidate walked costs a look-up per set checked, from Lua; an
  -- intersection a look-up per set for each member of the smallest, and an
  -- insertion per match, in C. The walk's estimate assumes the matches are
  -- spread evenly; its budget stops it when they are not.
  local want = skip + count + 1
  local expect = want * ((last - first + 1) / total)
  local budget = math.max((small * #sets + 4 * total) / (3 * math.max(#checks, 1)), 256)
  local bound = nil
  if lateWalk and not sortDue then
    if not built and not lateExact then bound = tonumber(overdue) end
    -- The overdue matches cluster away from the newest cases, so the
    -- density says little; giving up costs building the overdue set and
    -- sorting it, more per match than a candidate walked.
    budget = math.max(2 * small, 1024)
    expect = 0
  end
  if expect <= budget then
    -- Matches far sparser here than on average: give up early.
    if not (lateWalk and not sortDue) then budget = math.min(budget, math.max(4 * expect, 1024)) end
    if walkCap >= 0 then budget = math.min(budget, walkCap) end
    local out, found, read = {total, 0, capped}, 0, 0
    -- The first chunk should fill the page; a capped total says too little
    -- about the density to size it by.
    local chunk = math.max(64, math.min(1024, math.ceil(2 * want * (last - first + 1) / total)))
    if capped == 1 then chunk = 128 end
    while pos <= last and read <= budget do
      local stop = math.min(pos + chunk - 1, last)
      local batch
      if desc then
        batch = redis.call('ZRANGE', walk, pos, stop, 'REV', 'WITHSCORES')
      else
        batch = redis.call('ZRANGE', walk, pos, stop, 'WITHSCORES')
      end
      if #batch == 0 then break end
      read = read + #batch / 2
      for _, i in ipairs(survivors(batch, 2, checks, bound)) do
        found = found + 1
        if found > skip + count then
          out[2] = 1
          return finish(out)
        end
        if found > skip then
          out[#out + 1] = batch[i]
          out[#out + 1] = batch[i + 1]
        end
      end
      pos = stop + 1
      chunk = math.min(chunk * 2, 1024)
    end
    -- Walked to the end of the due index: done, unless matches with no
    -- due time follow (then the intersection pages through them).
    if pos > last and countNulls() == 0 then return finish(out) end
  end
end

-- 4. Intersect into a set sorted by the order, and page through it.
if lateWalk and not built then overdueSet() end
weighted('ZINTERSTORE', tmpS, key, sets, 1)
local rest = nil
if countNulls() > 0 then
  if #sets == 1 then
    rest = sets[1]
  else
    weighted('ZINTERSTORE', tmpA, sets[1], {unpack(sets, 2)}, 0)
    rest = tmpA
  end
end
local out = rangePage(tmpS, rest, '-inf', '+inf', desc, offset, count, cmode, cscore, cref)
if out[2] + (#out - 2) / 2 < out[1] then out[2] = 1 else out[2] = 0 end
table.insert(out, 3, 0) -- counted in full
return finish(out)
`)

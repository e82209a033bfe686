package readmodel

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	Total int64  // cases matching the filters, across all pages
	Next  string // cursor for the following page; "" on the last page
}

// List answers a staff work-queue query with its total count. Filters are
// sorted sets the case must be in; Redis does the intersecting and sorting.
//
// Cost: a query that one sorted set already answers in order (no filter, or
// one filter other than Overdue under SortReceived, or Overdue, Department or
// both under SortDue) is a range read: O(log N + page); a department's cases
// without a due time, which come last under SortDue, are found (O(R·log R) for
// R of them) only by a page that reaches them. Any other intersects the sets
// with ZINTER: O(S·k + M·log M) inside Redis for S members in the smallest
// set, k sets and M matches, and M rows handed to the script, which then finds
// the page by binary search. SortDue over every case is the worst, M = N.
// Only the page's cases are loaded. Measured with 10,000 cases: see
// BenchmarkList.
//
// A cursor resumes after the last case of its page even if cases were added
// since; offsets shift when they are.
func (s *Store) List(ctx context.Context, q ListQuery) (ListPage, error) {
	sets, overdue, err := s.listFilters(q)
	if err != nil {
		return ListPage{}, err
	}
	if q.Scope != nil {
		key, err := s.scopeKey(ctx, *q.Scope)
		if err != nil {
			return ListPage{}, err
		}
		if key == "" {
			return ListPage{}, nil // a scope with nothing in it
		}
		sets = append(sets, key)
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
	if listWalk && rangeKey == "" && (sortBy != SortDue || overdue != "") && len(sets) > 0 {
		// Walk the order, keeping the matches, when they are dense enough
		// that a page is found sooner than the intersection would be sorted.
		keys := append([]string{sortKey, dueKey, s.tmpKey()}, sets...)
		res, err = listWalkScript.Run(ctx, s.rdb, keys, desc, q.Offset, limit, cur.mode, cur.score, cur.ref, overdue, boolArg(sortBy == SortDue), walkFrom).Slice()
		if err != nil {
			return ListPage{}, fmt.Errorf("read model: list: %w", err)
		}
		if res[1].(int64) >= 0 {
			return s.listPage(ctx, res, sortBy, q.Desc, true)
		}
		res = nil // too sparse: intersect
	}
	if rangeKey != "" {
		keys := []string{rangeKey}
		if restKey != "" {
			keys = append(keys, restKey)
		}
		res, err = listRangeScript.Run(ctx, s.rdb, keys, "-inf", rangeMax, desc, q.Offset, limit, cur.mode, cur.score, cur.ref).Slice()
	} else {
		if len(sets) == 0 {
			sets = []string{s.receivedKey()}
		}
		sortDue := "0"
		if sortBy == SortDue {
			sortDue = "1"
		}
		keys := append([]string{sortKey, dueKey}, sets...)
		res, err = listScanScript.Run(ctx, s.rdb, keys, desc, q.Offset, limit, cur.mode, cur.score, cur.ref, overdue, sortDue).Slice()
	}
	if err != nil {
		return ListPage{}, fmt.Errorf("read model: list: %w", err)
	}
	return s.listPage(ctx, res, sortBy, q.Desc, false)
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

// listWalk lets List walk an order (listWalkScript); tests turn it off to
// check the intersection answers the same.
var listWalk = true

// walkFrom is how many cases the filters must hold together before a list
// walks its order rather than intersecting: below it, intersecting and
// sorting them costs less than a walk could save. Tests set it to 0.
var walkFrom = 3000

// tmpKey is where a list script keeps a range of the due index while it
// counts: written and deleted within the one script.
func (s *Store) tmpKey() string { return s.ns + "tmp:list" }

// Scope is what a member of staff may see: the cases of Departments, of
// Teams ("department/team"), and those assigned to Assignee.
type Scope struct {
	Departments []string
	Teams       []string
	Assignee    string
}

// scopeKey returns a short-lived sorted set of the cases in scope, scored by
// received time like the indexes it joins; "" when the scope holds nothing.
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
	if len(keys) == 0 {
		return "", nil
	}
	sum := sha256.Sum256([]byte(strings.Join(keys, "\x00")))
	key := s.ns + "tmp:scope:" + hex.EncodeToString(sum[:8])
	pipe := s.rdb.TxPipeline()
	pipe.ZUnionStore(ctx, key, &redis.ZStore{Keys: keys, Aggregate: "MAX"})
	pipe.Expire(ctx, key, 10*time.Second)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("read model: scope: %w", err)
	}
	return key, nil
}

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
`

// listRangeScript pages through one sorted set's score range. A second set,
// if given, holds the first (whole: the range is then -inf..+inf) and more
// members, which follow the range in member order whichever the direction:
// a department's cases without a due time after its due index.
// KEYS: the set[, the superset]. ARGV: min, max, desc, offset, count, cursor
// mode, score, ref. Returns total, start, then ref, score (empty for the rest)
// per case.
var listRangeScript = redis.NewScript(listLua + `
local key, lo, hi, desc = KEYS[1], ARGV[1], ARGV[2], ARGV[3] == '1'
local nr = redis.call('ZCOUNT', key, lo, hi)
local nn, rest = 0, nil
if KEYS[2] then nn = redis.call('ZCARD', KEYS[2]) - redis.call('ZCARD', key) end
local function restList()
  if not rest then
    rest = redis.call('ZDIFF', 2, KEYS[2], key)
    table.sort(rest, less)
  end
  return rest
end
local total = nr + nn
local start = tonumber(ARGV[4])
if ARGV[6] == 's' then
  local s, ref = ARGV[7], ARGV[8]
  local now = redis.call('ZSCORE', key, ref)
  if now and tonumber(now) == tonumber(s) then
    -- The cursor's case is still in place: resume right after it.
    if desc then
      start = redis.call('ZREVRANK', key, ref) - redis.call('ZCOUNT', key, '(' .. hi, '+inf') + 1
    else
      start = redis.call('ZRANK', key, ref) - redis.call('ZCOUNT', key, '-inf', '(' .. lo) + 1
    end
  elseif desc then
    -- It moved: resume after its old score (cases tied with it show again).
    start = redis.call('ZCOUNT', key, '(' .. s, hi)
  else
    start = redis.call('ZCOUNT', key, lo, '(' .. s)
  end
  if start < 0 then start = 0 end
elseif ARGV[6] == 'n' then
  local rs = restList()
  start = nr + prefix(#rs, function(i) return not less(ARGV[8], rs[i]) end)
end
local count = tonumber(ARGV[5])
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
  local rs = restList()
  for i = from + 1, math.min(from + left, #rs) do
    out[#out + 1] = rs[i]
    out[#out + 1] = ''
  end
end
return out
`)

// listScanScript intersects filter sets and sorts by another, Redis doing
// both (ZINTER returns members by score, then by member bytes); the script
// only drops what Overdue excludes and finds the page by binary search.
// KEYS: the sort set, the due set, then the filter sets (at least one).
// ARGV: desc, offset, count, cursor mode, score, ref, overdue max (empty for no
// Overdue filter), whether the sort set is the due set.
// Returns total, start, then ref and score (empty for none) per case.
var listScanScript = redis.NewScript(listLua + `
local desc, offset, count = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local cmode, cscore, cref = ARGV[4], tonumber(ARGV[5]), ARGV[6]
local overdue, sortDue = tonumber(ARGV[7]), ARGV[8] == '1'

-- The members in every filter set and in first, scored by first, flat
-- {member, score, ...} ascending; weight 0 everywhere scores them 0, so by member.
local function inter(first, weight)
  local args = {'ZINTER', #KEYS - 1, first}
  for i = 3, #KEYS do args[#args + 1] = KEYS[i] end
  args[#args + 1] = 'WEIGHTS'
  args[#args + 1] = weight
  for i = 3, #KEYS do args[#args + 1] = 0 end
  args[#args + 1] = 'WITHSCORES'
  return redis.call(unpack(args))
end

local rows = inter(KEYS[1], 1)
if overdue and sortDue then
  local n = prefix(#rows / 2, function(i) return tonumber(rows[2 * i]) <= overdue end)
  for i = #rows, 2 * n + 1, -1 do rows[i] = nil end
elseif overdue then
  local due, late = inter(KEYS[2], 1), {}
  for i = 1, prefix(#due / 2, function(i) return tonumber(due[2 * i]) <= overdue end) do late[due[2 * i - 1]] = true end
  local kept = {}
  for i = 1, #rows, 2 do
    if late[rows[i]] then kept[#kept + 1] = rows[i]; kept[#kept + 1] = rows[i + 1] end
  end
  rows = kept
end
local nr = #rows / 2

-- Sorting by due, matches with no due time come last, by ref. They are
-- counted, and only listed once a page reaches them.
local nn, nulls = 0, nil
if sortDue and not overdue then
  local args = {'ZINTERCARD', #KEYS - 2}
  for i = 3, #KEYS do args[#args + 1] = KEYS[i] end
  nn = redis.call(unpack(args)) - nr
end
local function nullList()
  if not nulls then
    nulls = {}
    local has, all = {}, inter(KEYS[3], 0)
    for i = 1, #rows, 2 do has[rows[i]] = true end
    for i = 1, #all, 2 do
      if not has[all[i]] then nulls[#nulls + 1] = all[i] end
    end
  end
  return nulls
end
local total = nr + nn

-- Rows are ascending; a descending page reads them from the end.
local function below(i, orEqual) -- rows[i] before the cursor (or at it)?
  local s, m = tonumber(rows[2 * i]), rows[2 * i - 1]
  if s ~= cscore then return s < cscore end
  if m == cref then return orEqual end
  return less(m, cref)
end
local start = offset
if cmode == 's' then
  if desc then
    start = nr - prefix(nr, function(i) return below(i, false) end)
  else
    start = prefix(nr, function(i) return below(i, true) end)
  end
elseif cmode == 'n' then
  local ns = nullList()
  start = nr + prefix(#ns, function(i) return not less(cref, ns[i]) end)
end

local out = {total, start}
for p = start + 1, math.min(start + count, total) do
  if p <= nr then
    local i = p
    if desc then i = nr - p + 1 end
    out[#out + 1] = rows[2 * i - 1]
    out[#out + 1] = rows[2 * i]
  else
    out[#out + 1] = nullList()[p - nr]
    out[#out + 1] = ''
  end
end
return out
`)

// listWalkScript pages through a sort set in order, keeping the members that
// are in every filter set (and, for Overdue, due by then), ZMSCORE by ZMSCORE
// a chunk at a time: a page costs the candidates read to fill it, not the
// matches, so a common filter over many cases is as fast as a rare one. It
// first counts the matches with ZINTERCARD (and, for Overdue, the overdue
// range copied to a temporary key); if the matches are so sparse that
// finding the page would read more candidates than intersecting them would
// sort, or the walk has read that many without filling the page, it answers
// start = -1 and List intersects instead.
// KEYS: the sort set, the due set, the temporary key, then the filter sets.
// ARGV: desc, offset, count, cursor mode, score, ref, overdue max (empty for
// none), whether the sort set is the due set (then Overdue is set), walkFrom.
// Returns total, 1 if matches follow the page (else 0), then ref and score
// per case.
var listWalkScript = redis.NewScript(`
local key, due, tmp = KEYS[1], KEYS[2], KEYS[3]
local desc, offset, count = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local cmode, cscore, cref = ARGV[4], ARGV[5], ARGV[6]
local overdue, sortDue = ARGV[7], ARGV[8] == '1'
local walkFrom = tonumber(ARGV[9])
local sets = {}
for i = 4, #KEYS do sets[#sets + 1] = KEYS[i] end

local total
local inSets
if #sets == 1 then inSets = redis.call('ZCARD', sets[1]) else inSets = redis.call('ZINTERCARD', #sets, unpack(sets)) end
if overdue ~= '' then
  -- Count the overdue matches from the smaller side: the smallest filter
  -- set's members looked up in the others and the due index, or the overdue
  -- range copied aside and intersected.
  local small, size = sets[1], redis.call('ZCARD', sets[1])
  for i = 2, #sets do
    local n = redis.call('ZCARD', sets[i])
    if n < size then small, size = sets[i], n end
  end
  if size < redis.call('ZCOUNT', due, '-inf', overdue) then
    total = 0
    for from = 0, size - 1, 512 do
      local members = redis.call('ZRANGE', small, from, from + 511)
      local ok = {}
      local sc = redis.call('ZMSCORE', due, unpack(members))
      for i = 1, #members do ok[i] = sc[i] and tonumber(sc[i]) <= tonumber(overdue) end
      for _, set in ipairs(sets) do
        if set ~= small then
          local in_ = redis.call('ZMSCORE', set, unpack(members))
          for i = 1, #members do if not in_[i] then ok[i] = false end end
        end
      end
      for i = 1, #members do if ok[i] then total = total + 1 end end
    end
  else
    redis.call('ZRANGESTORE', tmp, due, '-inf', overdue, 'BYSCORE')
    total = redis.call('ZINTERCARD', #sets + 1, tmp, unpack(sets))
    redis.call('DEL', tmp)
  end
else
  total = inSets
end

-- Where the walk starts (a rank in the walk's direction) and where it ends.
local n = redis.call('ZCARD', key)
local first, last = 0, n - 1
if sortDue then -- Overdue: the due set's members up to the bound
  local late = redis.call('ZCOUNT', key, '-inf', overdue)
  if desc then first = n - late else last = late - 1 end
end
local pos, skip = first, offset
if cmode == 's' then
  skip = 0
  local now = redis.call('ZSCORE', key, cref)
  if now and tonumber(now) == tonumber(cscore) then
    if desc then pos = redis.call('ZREVRANK', key, cref) + 1 else pos = redis.call('ZRANK', key, cref) + 1 end
  elseif desc then
    pos = redis.call('ZCOUNT', key, '(' .. cscore, '+inf')
  else
    pos = redis.call('ZCOUNT', key, '-inf', '(' .. cscore)
  end
  pos = math.max(pos, first)
end

-- Too sparse to walk? The walk reads about (skip + count) * n / total
-- candidates; intersecting sorts total.
-- The matches may also cluster at the far end of the order (overdue cases
-- are the old ones, say): a walk that has read twice what intersecting would
-- sort gives up and leaves it to the intersection.
local want = skip + count + 1
local budget = math.max(2 * inSets, 512)
if total == 0 or inSets <= walkFrom or want * (n / total) > budget then
  if total == 0 then return {0, 0} end
  return {total, -1}
end

local out, found, chunk, read = {total, 0}, 0, 256, 0
while pos <= last do
  if read > budget then return {total, -1} end
  local stop = math.min(pos + chunk - 1, last)
  local batch
  if desc then
    batch = redis.call('ZRANGE', key, pos, stop, 'REV', 'WITHSCORES')
  else
    batch = redis.call('ZRANGE', key, pos, stop, 'WITHSCORES')
  end
  if #batch == 0 then break end
  local members = {}
  for i = 1, #batch, 2 do members[#members + 1] = batch[i] end
  read = read + #members
  local ok = {}
  for i = 1, #members do ok[i] = true end
  for _, set in ipairs(sets) do
    local sc = redis.call('ZMSCORE', set, unpack(members))
    for i = 1, #members do if not sc[i] then ok[i] = false end end
  end
  if overdue ~= '' and not sortDue then
    local sc = redis.call('ZMSCORE', due, unpack(members))
    for i = 1, #members do
      if not sc[i] or tonumber(sc[i]) > tonumber(overdue) then ok[i] = false end
    end
  end
  for i = 1, #members do
    if ok[i] then
      found = found + 1
      if found > skip + count then
        out[2] = 1
        return out
      end
      if found > skip then
        out[#out + 1] = members[i]
        out[#out + 1] = batch[2 * i]
      end
    end
  end
  pos = stop + 1
end
return out
`)

package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ErrConflict: two different texts under one version number, Redis's and the
// archive's. Neither is overwritten.
var ErrConflict = errors.New("conflicting texts")

// Restored says what Restore changed.
type Restored struct {
	Versions    int // versions added to Redis
	Activations int // activations added to the log
	Active      int // the active version afterwards
	Changed     bool
}

// Restore brings back into Redis what the archive keeps of a rule set and
// Redis lacks (after a FLUSHALL, a lost AOF, an older backup): the versions
// given, and the activations of log Redis does not have, merged into its log
// by time. The active version becomes the last activation's. Versions Redis has
// are never overwritten: a different text under the same number is reported
// as ErrConflict and left. Restoring twice changes nothing the second time.
func (s *Store) Restore(ctx context.Context, name string, versions []Version, log []Activation) (Restored, error) {
	if err := checkName(name); err != nil {
		return Restored{}, err
	}
	k := s.keys(name)
	var r Restored
	var conflicts []error
	err := s.transaction(ctx, func(tx *redis.Tx) error {
		r, conflicts = Restored{}, nil
		have, err := decodeEach[Activation](tx.LRange(ctx, k.log, 0, -1).Result())
		if err != nil {
			return err
		}
		merged := mergeLog(have, log)
		r.Activations = len(merged) - len(have)
		seq, err := tx.Get(ctx, k.seq).Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		active, err := tx.Get(ctx, k.active).Int()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		var add []Version
		for _, v := range versions {
			old, err := s.version(ctx, tx, name, v.Number)
			switch {
			case errors.Is(err, ErrNotFound):
				add = append(add, v)
				seq = max(seq, v.Number)
			case err != nil:
				return err
			case old.YAML != v.YAML:
				conflicts = append(conflicts, fmt.Errorf("version %d of %s: Redis and Temporal keep different texts: %w", v.Number, name, ErrConflict))
			}
		}
		r.Versions = len(add)
		if len(merged) > 0 {
			r.Active = merged[len(merged)-1].Version
		} else {
			r.Active = max(active, seq)
		}
		r.Changed = len(add) > 0 || r.Activations > 0 || r.Active != active
		if !r.Changed {
			return nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, v := range add {
				b, _ := json.Marshal(v)
				p.HSet(ctx, k.versions, strconv.Itoa(v.Number), b)
			}
			p.Set(ctx, k.seq, seq, 0)
			p.Set(ctx, k.active, r.Active, 0)
			if r.Activations > 0 {
				p.Del(ctx, k.log)
				for _, a := range merged {
					b, _ := json.Marshal(a)
					p.RPush(ctx, k.log, b)
				}
			}
			p.SAdd(ctx, s.namesKey(), name)
			return nil
		})
		return err
	}, k.versions, k.seq, k.active, k.log)
	if err != nil {
		return Restored{}, s.wrap("restore", name, err)
	}
	if r.Changed {
		err = s.announce(ctx, name, r.Active)
	}
	return r, errors.Join(append(conflicts, err)...)
}

// SameActivation reports whether a and b record the same activation.
func SameActivation(a, b Activation) bool {
	return a.Version == b.Version && a.Action == b.Action && a.At.Equal(b.At)
}

// mergeLog adds to have the activations of more it lacks, each after those
// made before it, and returns have itself when it lacks none.
func mergeLog(have, more []Activation) []Activation {
	out := have
	for _, a := range more {
		if slices.ContainsFunc(out, func(b Activation) bool { return SameActivation(a, b) }) {
			continue
		}
		if len(out) == len(have) {
			out = slices.Clone(have)
		}
		i := len(out)
		for i > 0 && out[i-1].At.After(a.At) {
			i--
		}
		out = slices.Insert(out, i, a)
	}
	return out
}

package rulearchive

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/casebridge/casebridge/rules"
)

// Synced says what Sync did for one rule set.
type Synced struct {
	Name string
	// Recorded counts the versions and activations Redis had and Temporal
	// lacked (published while Temporal was away, or before it kept them).
	Recorded int
	// Restored is what Redis lacked and got back from Temporal.
	rules.Restored
}

func (s Synced) String() string {
	return fmt.Sprintf("rule set %s: %d versions and %d activations restored into Redis, %d recorded in Temporal; version %d is active",
		s.Name, s.Versions, s.Activations, s.Recorded, s.Active)
}

// Sync makes Redis and Temporal hold the same rule sets: what Redis has and
// Temporal lacks is recorded in Temporal, then what Temporal has and Redis
// lacks is restored into Redis, the active version with it. It is safe to run
// at any time, from several processes at once; `casebridge reindex` and every
// worker run it. A rule set that fails does not stop the others.
func Sync(ctx context.Context, store *rules.Store, a *Archive) ([]Synced, error) {
	inRedis, err := store.Names(ctx)
	if err != nil {
		return nil, err
	}
	inTemporal, err := a.Names(ctx)
	if err != nil {
		return nil, err
	}
	names := slices.Compact(slices.Sorted(slices.Values(append(inRedis, inTemporal...))))
	var out []Synced
	var errs []error
	for _, name := range names {
		s, err := syncOne(ctx, store, a, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("sync rule set %s: %w", name, err))
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func syncOne(ctx context.Context, store *rules.Store, a *Archive, name string) (Synced, error) {
	out := Synced{Name: name}
	set, err := a.Load(ctx, name)
	if errors.Is(err, rules.ErrNotFound) {
		set, err = Set{Name: name}, nil
	}
	if err != nil {
		return out, err
	}
	versions, err := store.Versions(ctx, name)
	if err != nil {
		return out, err
	}
	log, err := store.History(ctx, name)
	if err != nil {
		return out, err
	}

	// Redis → Temporal: a version with the activation that published it, then
	// any other activation.
	for _, v := range versions {
		if set.HasVersion(v.Number) {
			continue
		}
		r := Record{Version: v.Number}
		if i := slices.IndexFunc(log, func(x rules.Activation) bool { return x.Version == v.Number && x.Action != rules.ActionRollback }); i >= 0 {
			r.Activation = &log[i]
		}
		if err := a.Record(ctx, name, &v, r.Activation); err != nil {
			return out, err
		}
		set.apply(r)
		out.Recorded++
	}
	for _, act := range log {
		if set.Has(act) {
			continue
		}
		if err := a.Record(ctx, name, nil, &act); err != nil {
			return out, err
		}
		set.apply(Record{Activation: &act})
		out.Recorded++
	}

	// Temporal → Redis.
	var missing []rules.Version
	for _, n := range set.Versions {
		if slices.ContainsFunc(versions, func(v rules.Version) bool { return v.Number == n }) {
			continue
		}
		v, err := a.Version(ctx, name, n)
		if err != nil {
			return out, err
		}
		missing = append(missing, v)
	}
	out.Restored, err = store.Restore(ctx, name, missing, set.Log)
	return out, err
}

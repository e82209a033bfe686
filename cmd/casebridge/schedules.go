package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/workflows"
)

// syncPollSchedules makes Temporal's back-office poll schedules match the
// configuration: each back office polled has its schedule at its interval
// (made, or its interval brought up to date), and one with poll_every 0s has
// none. With prune, a poll schedule of a back office no longer configured is
// removed too: `casebridge setup` prunes; a worker, which may be running an
// older configuration during a rollout, does not. It says what it did, a line
// a schedule.
func syncPollSchedules(ctx context.Context, sc client.ScheduleClient, backOffices []config.BackOffice, prune bool) ([]string, error) {
	var done []string
	configured := map[string]bool{}
	for _, b := range backOffices {
		id := workflows.PollScheduleID(b.Name)
		configured[id] = true
		var every time.Duration
		if b.PollEvery != nil {
			every = time.Duration(*b.PollEvery)
		}
		if every == 0 {
			gone, err := deleteSchedule(ctx, sc, id)
			if err != nil {
				return done, fmt.Errorf("back office %s: remove poll schedule: %w", b.Name, err)
			}
			if gone {
				done = append(done, id+": removed (poll_every 0s)")
			}
			continue
		}
		said, err := ensurePollSchedule(ctx, sc, id, b.Name, every)
		if err != nil {
			return done, fmt.Errorf("back office %s: poll schedule: %w", b.Name, err)
		}
		done = append(done, id+": "+said)
	}
	if !prune {
		return done, nil
	}
	var stale []string
	it, err := sc.List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return done, fmt.Errorf("list schedules: %w", err)
	}
	for it.HasNext() {
		s, err := it.Next()
		if err != nil {
			return done, fmt.Errorf("list schedules: %w", err)
		}
		if strings.HasPrefix(s.ID, workflows.PollScheduleID("")) && !configured[s.ID] {
			stale = append(stale, s.ID)
		}
	}
	slices.Sort(stale)
	for _, id := range stale {
		if _, err := deleteSchedule(ctx, sc, id); err != nil {
			return done, fmt.Errorf("remove poll schedule %s: %w", id, err)
		}
		done = append(done, id+": removed (no such back office is configured)")
	}
	return done, nil
}

// ensurePollSchedule makes the poll schedule of a back office, or brings an
// existing one's interval up to date.
func ensurePollSchedule(ctx context.Context, sc client.ScheduleClient, id, system string, every time.Duration) (string, error) {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      id,
		Spec:    spec,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{ID: id, Workflow: effects.WorkflowPollBackOffice, Args: []any{system},
			TaskQueue: workflows.TaskQueue, WorkflowRunTimeout: 5 * time.Minute},
	})
	if err == nil {
		return "created, every " + every.String(), nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return "", err
	}
	err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		in.Description.Schedule.Spec = &spec
		return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
	}})
	if err != nil {
		return "", err
	}
	return "exists, every " + every.String(), nil
}

// deleteSchedule removes a schedule; gone is false if there was none.
func deleteSchedule(ctx context.Context, sc client.ScheduleClient, id string) (gone bool, err error) {
	err = sc.GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	return err == nil, err
}

package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/notify"
	"gitlab.com/derrick-kit/derrick/internal/telegram"
)

// Sender posts a line to the chat; *telegram.Client implements it.
type Sender interface {
	SendMessage(ctx context.Context, chatID, text string) (int64, error)
}

var _ Sender = (*telegram.Client)(nil)

// Watcher looks at GitLab every interval and posts the lines the
// pipelines' own notify jobs did not.
type Watcher struct {
	cfg     Config
	source  Source
	sender  Sender
	store   Store
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time

	gate Gate // nil: always act

	state *State
	dirty bool // state changed since the last successful save
	// stale: the watcher stood by (another replica's watcher acted), so
	// the state in memory is older than the ConfigMap's.
	stale   bool
	leading bool   // as last judged, for logging the changes
	holder  string // who held the lease then
	// telegramUntil: Telegram asked (429 retry_after) not to be called before this.
	telegramUntil time.Time
}

// New returns a watcher over state, as loaded from store.
func New(cfg Config, source Source, sender Sender, store Store, state *State, m *Metrics, log *slog.Logger) *Watcher {
	if state.Projects == nil {
		state.Projects = map[string]*ProjectState{}
	}
	return &Watcher{cfg: cfg, source: source, sender: sender, store: store, state: state, metrics: m, log: log, now: time.Now}
}

// WithGate makes the watcher act only while g says so (WATCH_LEASE).
func (w *Watcher) WithGate(g Gate) *Watcher {
	w.gate = g
	return w
}

// leads asks the gate whether this watcher may act, logging changes.
func (w *Watcher) leads(ctx context.Context) bool {
	if w.gate == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
	defer cancel()
	leading, holder, err := w.gate.Leading(ctx)
	if err != nil {
		if w.leading || w.holder != "?" {
			w.log.Error("cannot tell whether this replica leads; standing by", "error", err)
		}
		w.leading, w.holder = false, "?"
	} else if leading != w.leading || holder != w.holder {
		if leading {
			w.log.Info("this replica holds the bot's lease: watching", "identity", w.cfg.Identity)
		} else {
			w.log.Info("another replica holds the bot's lease: standing by", "holder", holder, "identity", w.cfg.Identity)
		}
		w.leading, w.holder = leading, holder
	}
	gauge := 0.0
	if w.leading {
		gauge = 1
	}
	w.metrics.leading.Set(gauge)
	if !w.leading {
		w.stale = true
	}
	return w.leading
}

// active says whether this watcher may look and post now; a watcher that
// takes over from another first reads the state that one saved.
func (w *Watcher) active(ctx context.Context) bool {
	if !w.leads(ctx) {
		return false
	}
	if w.stale {
		state, err := w.store.Load(ctx)
		if err != nil {
			w.log.Error("taking over: state not read; trying again next interval", "error", err)
			return false
		}
		w.state, w.stale, w.dirty = state, false, false
	}
	return true
}

// budget bounds one look: the interval, but room for two slow requests.
func (w *Watcher) budget() time.Duration { return max(w.cfg.Interval, 2*w.cfg.RequestTimeout) }

// Run looks at GitLab every interval until ctx ends, then saves the state.
func (w *Watcher) Run(ctx context.Context, beat func(time.Time)) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		if w.active(ctx) {
			w.Look(ctx)
		}
		if beat != nil {
			beat(w.now())
		}
		select {
		case <-ctx.Done():
			if w.dirty {
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				w.save(sctx)
				cancel()
			}
			return
		case <-t.C:
		}
	}
}

// Look is one pass over every project: list what changed, settle what is
// due, save. Whatever fails stays in the state for the next look.
func (w *Watcher) Look(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.budget())
	defer cancel()
	for _, p := range w.cfg.Projects {
		if ctx.Err() != nil {
			break
		}
		w.lookAt(ctx, p)
	}
	if dropped := w.state.prune(w.now()); len(dropped) > 0 {
		w.log.Warn("forgot pipelines that never ended or overflowed the state", "pipelines", dropped)
		w.dirty = true
	}
	w.metrics.followed.Set(float64(w.state.entries()))
	if w.dirty {
		w.save(ctx)
	}
	w.metrics.lastLook.Set(float64(w.now().Unix()))
}

func (w *Watcher) project(name string) *ProjectState {
	ps, ok := w.state.Projects[name]
	if !ok {
		floor := w.now().Add(-w.cfg.Since).UTC()
		ps = &ProjectState{Floor: floor, Cursor: floor, Pipelines: map[int64]*Entry{}}
		w.state.Projects[name] = ps
		w.dirty = true
	}
	return ps
}

func (w *Watcher) lookAt(ctx context.Context, name string) {
	ps := w.project(name)
	list, err := w.source.UpdatedPipelines(ctx, name, ps.Cursor.Add(-listOverlap))
	if err != nil {
		w.log.Error("GitLab look failed; trying again next interval", "project", name, "error", err)
	} else {
		w.record(ps, list)
	}
	w.settle(ctx, name, ps)
}

// record folds listed pipelines into the project's state.
func (w *Watcher) record(ps *ProjectState, list []Pipeline) {
	for _, p := range list {
		if p.UpdatedAt.After(ps.Cursor) {
			ps.Cursor = p.UpdatedAt.UTC()
			w.dirty = true
		}
		if p.Source == "parent_pipeline" {
			continue // a child pipeline is announced as part of its parent
		}
		e, ok := ps.Pipelines[p.ID]
		switch {
		case !ok:
			e = &Entry{Ref: p.Ref, Created: p.CreatedAt.UTC(), Updated: p.UpdatedAt.UTC(), Status: p.Status}
			if p.CreatedAt.Before(ps.Floor) {
				e.settle(lineCreated) // older than WATCH_SINCE at the first start
			}
			if l := finalLine(p.Status); l != 0 && p.UpdatedAt.Before(ps.Floor) {
				e.settle(l) // ended before the floor: listed only through the overlap
			}
			ps.Pipelines[p.ID] = e
		case p.UpdatedAt.After(e.Updated):
			e.Updated = p.UpdatedAt.UTC()
			if e.Status == p.Status {
				w.dirty = true
				continue
			}
			e.Status = p.Status
		default:
			continue // seen as it is
		}
		w.metrics.seen.Inc()
		w.dirty = true
	}
}

// due says which lines of e may need posting now.
func (w *Watcher) due(e *Entry, now time.Time) (created bool, end rune) {
	end = finalLine(e.Status)
	if end != 0 && e.done(end) {
		end = 0
	}
	created = !e.done(lineCreated) && (finalLine(e.Status) != 0 || !now.Before(e.Created.Add(w.cfg.CreatedGrace)))
	return created, end
}

// fetchConcurrency bounds parallel jobs requests per project.
const fetchConcurrency = 4

// settle looks at the jobs of every pipeline with a line due and posts the
// lines their own jobs did not, oldest pipeline first.
func (w *Watcher) settle(ctx context.Context, project string, ps *ProjectState) {
	now := w.now()
	var ids []int64
	for _, id := range slices.Sorted(maps.Keys(ps.Pipelines)) { // oldest pipeline first
		if created, end := w.due(ps.Pipelines[id], now); created || end != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	jobs := make([][]Job, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, fetchConcurrency)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			jobs[i], errs[i] = w.source.Jobs(ctx, project, id)
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if errs[i] != nil {
			w.log.Error("GitLab jobs look failed; trying again next interval", "project", project, "pipeline", id, "error", errs[i])
			continue
		}
		if !w.announce(ctx, project, id, ps.Pipelines[id], jobs[i], now) {
			return // Telegram failed: the rest waits, in order, for the next look
		}
	}
}

// Names of the notify component's jobs (templates/notify.yml), after job_prefix.
var jobOf = map[rune]string{lineCreated: "notify-created", lineSuccess: "notify-success", lineFailed: "notify-failed"}

var statusOf = map[rune]notify.Status{lineCreated: notify.Created, lineSuccess: notify.Success, lineFailed: notify.Failed}

var lineName = map[rune]string{lineCreated: "created", lineSuccess: "success", lineFailed: "failed"}

// announce settles the due lines of one pipeline; false when a send failed.
func (w *Watcher) announce(ctx context.Context, project string, id int64, e *Entry, jobs []Job, now time.Time) bool {
	created, end := w.due(e, now)
	for _, line := range []rune{lineCreated, end} {
		if line == 0 || (line == lineCreated && !created) {
			continue
		}
		if w.ownJobSucceeded(jobs, line) {
			e.settle(line)
			w.dirty = true
			continue
		}
		if !w.leads(ctx) {
			return false // lost the lease during this look: the new holder posts it
		}
		w.branchOf(ctx, project, id, e)
		text := notify.MessageIn(w.cfg.Notify.Lang, notify.Event{PipelineID: id, CreatedAt: e.Created, Ref: e.Ref, Status: statusOf[line]},
			w.cfg.Notify.Location, w.cfg.Notify.TimeFormat)
		if err := w.send(ctx, text); err != nil {
			w.log.Error("line not delivered; trying again next interval", "project", project, "pipeline", id,
				"line", lineName[line], "error", err)
			return false
		}
		e.settle(line)
		w.dirty = true
		w.metrics.announced.WithLabelValues(lineName[line]).Inc()
		w.log.Info("announced what the pipeline's own job did not", "project", project, "pipeline", id,
			"status", e.Status, "job", w.cfg.JobPrefix+jobOf[line], "text", text)
		// Save at once: a restart right after must not post it again.
		w.save(ctx)
	}
	return true
}

// mergeRequestRef is the ref GitLab lists for a merge request pipeline:
// refs/merge-requests/<iid>/head (detached), /merge (merged results) or
// /train (merge train).
var mergeRequestRef = regexp.MustCompile(`^refs/merge-requests/([0-9]{1,18})/(head|merge|train)$`)

// branchOf puts the merge request's source branch in place of a merge
// request pipeline's ref, as the pipeline's own notify job shows it
// (CI_COMMIT_REF_NAME is the source branch there). When GitLab cannot say,
// the line keeps the ref and the watcher asks again at the next line.
func (w *Watcher) branchOf(ctx context.Context, project string, id int64, e *Entry) {
	m := mergeRequestRef.FindStringSubmatch(e.Ref)
	if m == nil {
		return
	}
	iid, _ := strconv.ParseInt(m[1], 10, 64)
	branch, err := w.source.MergeRequestBranch(ctx, project, iid)
	if err != nil || branch == "" {
		w.log.Warn("merge request's source branch unknown; the line shows the ref", "project", project,
			"pipeline", id, "ref", e.Ref, "error", err)
		return
	}
	e.Ref = branch
	w.dirty = true
}

// ownJobSucceeded: some try of the line's notify job succeeded, so the
// pipeline announced it itself.
func (w *Watcher) ownJobSucceeded(jobs []Job, line rune) bool {
	name := w.cfg.JobPrefix + jobOf[line]
	for _, j := range jobs {
		if j.Name == name && j.Status == "success" {
			return true
		}
	}
	return false
}

func (w *Watcher) send(ctx context.Context, text string) error {
	if wait := w.telegramUntil.Sub(w.now()); wait > 0 {
		return fmt.Errorf("telegram asked to wait %s more (429 retry_after)", wait.Round(time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Notify.Timeout)
	defer cancel()
	_, err := w.sender.SendMessage(ctx, w.cfg.Notify.ChatID, text)
	if err != nil {
		w.metrics.telegramError(apiCode(err)) // the retried attempts are counted by newSender's OnRetry
	}
	var apiErr *telegram.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		w.telegramUntil = w.now().Add(apiErr.RetryAfter)
	}
	return err
}

func (w *Watcher) save(ctx context.Context) {
	if err := w.store.Save(ctx, w.state); err != nil {
		w.log.Error("state not saved; keeping it in memory and trying again", "error", err)
		return
	}
	w.dirty = false
}

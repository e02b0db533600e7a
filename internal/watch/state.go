package watch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// State is what the watcher knows across restarts: per project, how far it
// has read and what it has decided about each recent pipeline.
type State struct {
	Projects map[string]*ProjectState `json:"projects"`
}

// ProjectState is one project's part of the State.
type ProjectState struct {
	// Floor is when the watcher first looked at the project, less WATCH_SINCE:
	// no "создан" line for a pipeline created before it.
	Floor time.Time `json:"floor"`
	// Cursor is the newest updated_at seen; the next look asks for
	// pipelines updated after Cursor less listOverlap.
	Cursor    time.Time        `json:"cursor"`
	Pipelines map[int64]*Entry `json:"pipelines"`
}

// Entry is one pipeline the watcher follows.
type Entry struct {
	Ref     string    `json:"r"`
	Created time.Time `json:"c"`
	Updated time.Time `json:"u"`
	Status  string    `json:"s"`
	// Done lists the lines settled for this pipeline, announced by its own
	// job or by the watcher: c (создан), s (завершен успешно), f (завершен
	// неуспешно). A settled line is never posted again.
	Done string `json:"d,omitempty"`
}

// Line letters of Entry.Done.
const (
	lineCreated = 'c'
	lineSuccess = 's'
	lineFailed  = 'f'
)

func (e *Entry) done(line rune) bool { return strings.ContainsRune(e.Done, line) }

func (e *Entry) settle(line rune) {
	if !e.done(line) {
		e.Done += string(line)
	}
}

// finalLine is the line a final status calls for, or 0 while the pipeline runs.
func finalLine(status string) rune {
	switch status {
	case "success":
		return lineSuccess
	case "failed", "canceled", "skipped":
		return lineFailed
	}
	return 0
}

// complete: the pipeline ended and both its lines are settled.
func (e *Entry) complete() bool {
	l := finalLine(e.Status)
	return l != 0 && e.done(l) && e.done(lineCreated)
}

// How the state stays bounded (see prune).
const (
	// listOverlap re-reads a little before the cursor, for updates GitLab
	// commits late or with the same timestamp; Done keeps them single.
	listOverlap = time.Minute
	// keepComplete: a settled pipeline is forgotten once its last update is
	// this far behind the cursor, out of reach of any later listing.
	keepComplete = 2 * listOverlap
	// keepPending: a pipeline that never ends is forgotten a day after its creation.
	keepPending = 24 * time.Hour
	// maxEntries bounds the whole state (at most about 150 bytes each with
	// a long branch name: under 500 KB, half a ConfigMap's 1 MiB); past it
	// the least recently updated go first.
	maxEntries = 3000
)

// prune forgets what can no longer matter and returns how many entries it
// dropped that were not settled (each is logged by the caller).
func (s *State) prune(now time.Time) (droppedPending []string) {
	type ref struct {
		project string
		id      int64
		updated time.Time
	}
	var all []ref
	for name, ps := range s.Projects {
		for id, e := range ps.Pipelines {
			switch {
			case e.complete() && e.Updated.Before(ps.Cursor.Add(-keepComplete)):
				delete(ps.Pipelines, id)
			case !e.complete() && e.Created.Before(now.Add(-keepPending)):
				droppedPending = append(droppedPending, fmt.Sprintf("%s#%d", name, id))
				delete(ps.Pipelines, id)
			default:
				all = append(all, ref{name, id, e.Updated})
			}
		}
	}
	if len(all) > maxEntries {
		slices.SortFunc(all, func(a, b ref) int { return a.updated.Compare(b.updated) })
		for _, r := range all[:len(all)-maxEntries] {
			if !s.Projects[r.project].Pipelines[r.id].complete() {
				droppedPending = append(droppedPending, fmt.Sprintf("%s#%d", r.project, r.id))
			}
			delete(s.Projects[r.project].Pipelines, r.id)
		}
	}
	slices.Sort(droppedPending)
	return droppedPending
}

// entries counts the pipelines followed.
func (s *State) entries() int {
	n := 0
	for _, ps := range s.Projects {
		n += len(ps.Pipelines)
	}
	return n
}

// merge folds other (a newer copy written elsewhere) into s: the later
// cursor and every settled line of both.
func (s *State) merge(other *State) {
	if s.Projects == nil {
		s.Projects = map[string]*ProjectState{}
	}
	for name, o := range other.Projects {
		ps, ok := s.Projects[name]
		if !ok {
			s.Projects[name] = o
			continue
		}
		if o.Cursor.After(ps.Cursor) {
			ps.Cursor = o.Cursor
		}
		if ps.Floor.IsZero() || (!o.Floor.IsZero() && o.Floor.Before(ps.Floor)) {
			ps.Floor = o.Floor
		}
		for id, oe := range o.Pipelines {
			e, ok := ps.Pipelines[id]
			if !ok {
				ps.Pipelines[id] = oe
				continue
			}
			for _, l := range oe.Done {
				e.settle(l)
			}
		}
	}
}

// Store keeps the State; *ConfigMapStore implements it.
type Store interface {
	Load(ctx context.Context) (*State, error)
	Save(ctx context.Context, s *State) error
}

var _ Store = (*ConfigMapStore)(nil)

// stateKey is the ConfigMap key holding the State as JSON.
const stateKey = "state.json"

// Errors of the state ConfigMap that are configuration faults (the watcher exits 2).
var (
	ErrStateMissing   = errors.New("state ConfigMap not found")
	ErrStateForbidden = errors.New("state ConfigMap forbidden")
)

// ConfigMapStore keeps the State in one ConfigMap, read and replaced by
// name only (get and update: all the chart's RBAC allows).
type ConfigMapStore struct {
	cms       configMaps
	api       *kubeAPI // the connection cms uses; nil in unit tests
	namespace string
	name      string
	last      configMap // as last read or written, for its resourceVersion
}

// OpenConfigMapStore returns the store of ConfigMap namespace/name on the
// API server of kubeconfig (KUBECONFIG; "" = the pod's ServiceAccount). An
// empty namespace is the kubeconfig context's or the pod's. It makes no request.
func OpenConfigMapStore(kubeconfig, namespace, name string) (*ConfigMapStore, error) {
	api, err := newKubeAPI(kubeconfig)
	if err != nil {
		return nil, err
	}
	namespace = cmp.Or(namespace, api.namespace)
	if namespace == "" {
		return nil, errors.New("WATCH_NAMESPACE is not set and neither the pod nor the kubeconfig context names one: name the namespace of WATCH_STATE_CONFIGMAP")
	}
	s := newStore(kubeConfigMaps{api: api, namespace: namespace, name: name}, namespace, name)
	s.api = api
	return s, nil
}

func newStore(cms configMaps, namespace, name string) *ConfigMapStore {
	return &ConfigMapStore{cms: cms, namespace: namespace, name: name}
}

// Namespace is the state ConfigMap's namespace.
func (c *ConfigMapStore) Namespace() string { return c.namespace }

func (c *ConfigMapStore) what() string {
	return fmt.Sprintf("ConfigMap %s/%s (WATCH_STATE_CONFIGMAP)", c.namespace, c.name)
}

// Load reads the State; an empty ConfigMap is an empty State.
func (c *ConfigMapStore) Load(ctx context.Context) (*State, error) {
	cm, err := c.cms.get(ctx)
	switch code := statusCode(err); {
	case code == http.StatusNotFound:
		return nil, fmt.Errorf("%s: %w: the chart creates it with watcher.enabled; outside the chart create it with "+
			"kubectl -n %s create configmap %s", c.what(), ErrStateMissing, c.namespace, c.name)
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		return nil, fmt.Errorf("%s: %w: the ServiceAccount may not get it: grant get and update on this ConfigMap name: %w", c.what(), ErrStateForbidden, err)
	case err != nil:
		return nil, fmt.Errorf("get %s: %w", c.what(), err)
	}
	c.last = cm
	return decodeState(cm.data()[stateKey], c.what())
}

func decodeState(raw, what string) (*State, error) {
	s := &State{Projects: map[string]*ProjectState{}}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), s); err != nil {
			return nil, fmt.Errorf("%s key %s is not the watcher's state (%v): delete the key to start afresh", what, stateKey, err)
		}
	}
	if s.Projects == nil {
		s.Projects = map[string]*ProjectState{}
	}
	for _, ps := range s.Projects {
		if ps.Pipelines == nil {
			ps.Pipelines = map[int64]*Entry{}
		}
	}
	return s, nil
}

// Save replaces the ConfigMap's state key. On a conflict (someone else
// wrote it) it reads the newer copy, merges it into s and tries again.
func (c *ConfigMapStore) Save(ctx context.Context, s *State) error {
	for attempt := 0; attempt < 5; attempt++ {
		if c.last == nil {
			if _, err := c.Load(ctx); err != nil {
				return err
			}
		}
		raw, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
		if c.last.data()[stateKey] == string(raw) {
			return nil
		}
		updated, err := c.cms.update(ctx, c.last.withData(stateKey, string(raw)))
		switch code := statusCode(err); {
		case err == nil:
			c.last = updated
			return nil
		case code == http.StatusConflict:
			c.last = nil
			latest, lerr := c.Load(ctx)
			if lerr != nil {
				return lerr
			}
			s.merge(latest)
		case code == http.StatusNotFound:
			c.last = nil
			return fmt.Errorf("update %s: %w (deleted while the watcher ran)", c.what(), ErrStateMissing)
		default:
			return fmt.Errorf("update %s: %w", c.what(), err)
		}
	}
	return fmt.Errorf("update %s: it kept changing under the watcher (is a second watcher running?)", c.what())
}

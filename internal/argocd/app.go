package argocd

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Values of App fields, as Argo CD spells them.
const (
	SyncSynced = "Synced"

	HealthHealthy  = "Healthy"
	HealthDegraded = "Degraded"

	PhaseRunning     = "Running"
	PhaseTerminating = "Terminating"
	PhaseFailed      = "Failed"
	PhaseError       = "Error"

	SourceKustomize = "Kustomize"
	SourceHelm      = "Helm"
)

// App is what Derrick reads of an Argo CD Application.
type App struct {
	Name    string
	Project string
	// SourceType is status.sourceType: Kustomize, Helm, Directory or
	// Plugin. Before the first reconciliation it is inferred from the spec
	// (Helm for a chart or Helm parameters, Kustomize for kustomize
	// overrides) or empty.
	SourceType string
	// Sync is status.sync.status: Synced, OutOfSync or Unknown; Revision is
	// the git revision it was compared at.
	Sync, Revision string
	// Health is status.health.status: Healthy, Progressing, Degraded,
	// Suspended, Missing or Unknown.
	Health, HealthMessage string
	// Compared: Sync and Health describe the current spec (its source is
	// the one status.sync.comparedTo names). Right after a change of the
	// spec they still describe the old one until the controller compares.
	Compared bool
	// Operation is status.operationState; its Phase is empty when the
	// application never ran an operation.
	Operation Operation
	// Images is status.summary.images: the images of the live resources.
	Images []string
	// KustomizeImages and Replicas are the kustomize overrides of the spec
	// (spec.source.kustomize.images and .replicas).
	KustomizeImages []string
	Replicas        []Replica
	// HelmParameters are the Helm overrides (spec.source.helm.parameters).
	HelmParameters []HelmParameter
	// MultiSource: the spec has spec.sources; the fields above that come
	// from spec.source are empty then.
	MultiSource bool
	// Conditions are status.conditions as "Type: message", e.g. a
	// ComparisonError saying why manifests could not be generated.
	Conditions []string
	// History is status.history, newest first: what each sync deployed
	// (Argo CD keeps spec.revisionHistoryLimit entries, 10 by default).
	History []Deployed
}

// Deployed is one entry of status.history: a sync that deployed a source.
type Deployed struct {
	// ID is the entry's id, counting up from 0.
	ID int64
	// Revision is the git revision (or chart version) deployed.
	Revision   string
	DeployedAt time.Time
	// InitiatedBy is initiatedBy.username, "automated" for an automated
	// sync, "" when Argo CD recorded neither.
	InitiatedBy string
	// KustomizeImages and HelmParameters are the overrides of the source
	// deployed (source.kustomize.images, source.helm.parameters).
	KustomizeImages []string
	HelmParameters  []HelmParameter
	// Image is the application image that sync deployed, as Client.History
	// reads it from the overrides; "" when they do not name it.
	Image string
}

// Operation is the state of the application's last or current operation.
type Operation struct {
	// Phase is Running, Terminating, Succeeded, Failed or Error.
	Phase, Message string
	// Current: the operation is about the current spec (its source is
	// spec.source), not an earlier one.
	Current               bool
	StartedAt, FinishedAt time.Time
}

// Replica is one kustomize replicas override: the Deployment (or other
// workload) named Name runs Count replicas.
type Replica struct {
	Name  string
	Count int32
}

// HelmParameter is one Helm parameter override.
type HelmParameter struct {
	Name, Value string
	ForceString bool
}

// Settled reports whether the application is done with its current spec:
// compared, Synced, Healthy, and no operation running.
func (a App) Settled() bool {
	return a.Compared && a.Sync == SyncSynced && a.Health == HealthHealthy && !a.Operation.running()
}

// RunsImage reports whether image is among the images of the live
// resources (status.summary.images).
func (a App) RunsImage(image string) bool { return slices.Contains(a.Images, image) }

// String is a one-line summary for progress messages, e.g.
// "sync Synced, health Healthy, operation Succeeded (successfully synced)".
func (a App) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sync %s, health %s", cmp.Or(a.Sync, "Unknown"), cmp.Or(a.Health, "Unknown"))
	if a.HealthMessage != "" && a.Health != HealthHealthy {
		fmt.Fprintf(&b, " (%s)", a.HealthMessage)
	}
	if a.Operation.Phase != "" {
		fmt.Fprintf(&b, ", operation %s", a.Operation.Phase)
		if a.Operation.Message != "" {
			fmt.Fprintf(&b, " (%s)", a.Operation.Message)
		}
	}
	if !a.Compared {
		b.WriteString(", comparison pending")
	}
	return b.String()
}

func (o Operation) running() bool { return o.Phase == PhaseRunning || o.Phase == PhaseTerminating }

// Application reads the application.
func (c *Client) Application(ctx context.Context) (App, error) {
	var raw rawApp
	if err := c.do(ctx, "get", http.MethodGet, c.appPath(""), c.projectQuery(), nil, &raw); err != nil {
		return App{}, err
	}
	return raw.app()
}

func (c *Client) projectQuery() url.Values {
	if c.cfg.Project == "" {
		return nil
	}
	return url.Values{"project": {c.cfg.Project}}
}

// rawApp is the part of an Application's JSON the client reads. Sources
// are kept raw: they are compared as a whole and patched field by field.
type rawApp struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Project string          `json:"project"`
		Source  json.RawMessage `json:"source"`
		Sources json.RawMessage `json:"sources"`
	} `json:"spec"`
	Status struct {
		SourceType string `json:"sourceType"`
		Sync       struct {
			Status     string `json:"status"`
			Revision   string `json:"revision"`
			ComparedTo struct {
				Source  json.RawMessage `json:"source"`
				Sources json.RawMessage `json:"sources"`
			} `json:"comparedTo"`
		} `json:"sync"`
		Health struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"health"`
		OperationState *struct {
			Phase      string    `json:"phase"`
			Message    string    `json:"message"`
			StartedAt  time.Time `json:"startedAt"` // null and absent are the zero time
			FinishedAt time.Time `json:"finishedAt"`
			SyncResult *struct {
				Source  json.RawMessage `json:"source"`
				Sources json.RawMessage `json:"sources"`
			} `json:"syncResult"`
		} `json:"operationState"`
		Summary struct {
			Images []string `json:"images"`
		} `json:"summary"`
		Conditions []struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"conditions"`
		History []struct {
			ID          int64           `json:"id"`
			Revision    string          `json:"revision"`
			DeployedAt  time.Time       `json:"deployedAt"`
			Source      json.RawMessage `json:"source"`
			InitiatedBy *struct {
				Username  string `json:"username"`
				Automated bool   `json:"automated"`
			} `json:"initiatedBy"`
		} `json:"history"`
	} `json:"status"`
}

// source is the part of spec.source SetImage and SetReplicas work on.
type source struct {
	Chart     string `json:"chart"`
	Kustomize *struct {
		Images   []string `json:"images"`
		Replicas []struct {
			Name  string          `json:"name"`
			Count json.RawMessage `json:"count"` // int or string
		} `json:"replicas"`
	} `json:"kustomize"`
	Helm *struct {
		Parameters []struct {
			Name        string `json:"name"`
			Value       string `json:"value"`
			ForceString bool   `json:"forceString"`
		} `json:"parameters"`
	} `json:"helm"`
}

func (r rawApp) app() (App, error) {
	st := r.Status
	a := App{
		Name:          r.Metadata.Name,
		Project:       r.Spec.Project,
		SourceType:    st.SourceType,
		Sync:          st.Sync.Status,
		Revision:      st.Sync.Revision,
		Health:        st.Health.Status,
		HealthMessage: st.Health.Message,
		Images:        st.Summary.Images,
		MultiSource:   present(r.Spec.Sources),
		Compared: sameJSON(r.Spec.Source, st.Sync.ComparedTo.Source) &&
			sameJSON(r.Spec.Sources, st.Sync.ComparedTo.Sources),
	}
	if op := st.OperationState; op != nil {
		a.Operation = Operation{Phase: op.Phase, Message: op.Message, StartedAt: op.StartedAt, FinishedAt: op.FinishedAt}
		if res := op.SyncResult; res != nil {
			a.Operation.Current = sameJSON(r.Spec.Source, res.Source) && sameJSON(r.Spec.Sources, res.Sources)
		}
	}
	for _, cond := range st.Conditions {
		a.Conditions = append(a.Conditions, cond.Type+": "+cond.Message)
	}
	for i := len(st.History) - 1; i >= 0; i-- {
		h := st.History[i]
		d := Deployed{ID: h.ID, Revision: h.Revision, DeployedAt: h.DeployedAt}
		if by := h.InitiatedBy; by != nil {
			d.InitiatedBy = by.Username
			if d.InitiatedBy == "" && by.Automated {
				d.InitiatedBy = "automated"
			}
		}
		if present(h.Source) { // a multi-source entry has sources instead
			var src source
			if err := json.Unmarshal(h.Source, &src); err != nil {
				return App{}, fmt.Errorf("application %q: decode status.history id %d source: %w", a.Name, h.ID, err)
			}
			d.KustomizeImages, d.HelmParameters = src.overrides()
		}
		a.History = append(a.History, d)
	}
	slices.SortStableFunc(a.History, func(x, y Deployed) int { return cmp.Compare(y.ID, x.ID) })
	if !present(r.Spec.Source) {
		return a, nil
	}
	var src source
	if err := json.Unmarshal(r.Spec.Source, &src); err != nil {
		return App{}, fmt.Errorf("application %q: decode spec.source: %w", a.Name, err)
	}
	a.KustomizeImages, a.HelmParameters = src.overrides()
	if k := src.Kustomize; k != nil {
		for _, rep := range k.Replicas {
			n, err := replicaCount(rep.Count)
			if err != nil {
				return App{}, fmt.Errorf("application %q: kustomize replicas of %q: %w", a.Name, rep.Name, err)
			}
			a.Replicas = append(a.Replicas, Replica{Name: rep.Name, Count: n})
		}
	}
	if a.SourceType == "" {
		switch {
		case src.Chart != "" || src.Helm != nil:
			a.SourceType = SourceHelm
		case src.Kustomize != nil:
			a.SourceType = SourceKustomize
		}
	}
	return a, nil
}

// overrides returns the kustomize images and Helm parameters of a source.
func (s source) overrides() (images []string, params []HelmParameter) {
	if k := s.Kustomize; k != nil {
		images = k.Images
	}
	if h := s.Helm; h != nil {
		for _, p := range h.Parameters {
			params = append(params, HelmParameter(p))
		}
	}
	return images, params
}

// replicaCount decodes an IntOrString count.
func replicaCount(raw json.RawMessage) (int32, error) {
	var n int32
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("count %s is neither a number nor a string", raw)
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("count %q is not a number", s)
	}
	return int32(v), nil
}

// present reports whether a raw JSON field holds a value.
func present(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s != "null"
}

// sameJSON reports whether two JSON documents hold the same value; absent
// and null are the same.
func sameJSON(a, b json.RawMessage) bool {
	if !present(a) || !present(b) {
		return present(a) == present(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

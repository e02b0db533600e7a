package argocd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// SetImage makes the application deploy image (repository:tag, or
// repository:tag@digest): on a kustomize source it sets the kustomize
// images override for that repository, keeping the overrides of other
// images; on a Helm source it sets the Helm parameters
// Config.HelmImageRepository and HelmImageTag (tag, or tag@digest).
// It does not sync; with automated sync Argo CD starts at once.
func (c *Client) SetImage(ctx context.Context, image string) error {
	ref, err := parseImage(image)
	if err != nil {
		return fmt.Errorf("set image of application %q: %w", c.cfg.App, err)
	}
	a, err := c.Application(ctx)
	if err != nil {
		return err
	}
	if err := c.singleSource(a, "set image of"); err != nil {
		return err
	}
	switch {
	case a.SourceType == SourceHelm:
		tag := ref.tag
		switch {
		case ref.digest != "" && tag == "":
			return fmt.Errorf("set image of application %q: image %q: a Helm source takes a tag (or tag@digest), not a digest alone", c.cfg.App, image)
		case ref.digest != "":
			// Charts render <repository>:<tag>: a pinned tag is
			// <repository>:<tag>@<digest>, a valid reference.
			tag += "@" + ref.digest
		}
		params := withHelmParameter(a.HelmParameters, c.cfg.HelmImageRepository, ref.name)
		params = withHelmParameter(params, c.cfg.HelmImageTag, tag)
		return c.patchSource(ctx, "set image of", map[string]any{"helm": map[string]any{"parameters": helmJSON(params)}})
	case a.SourceType == SourceKustomize || a.SourceType == "":
		images := withKustomizeImage(a.KustomizeImages, ref)
		return c.patchSource(ctx, "set image of", map[string]any{"kustomize": map[string]any{"images": images}})
	default:
		return fmt.Errorf("set image of application %q: its source type is %s; "+
			"only Kustomize (images override) and Helm (parameters %s, %s) sources can be changed",
			c.cfg.App, a.SourceType, c.cfg.HelmImageRepository, c.cfg.HelmImageTag)
	}
}

// SetReplicas sets the kustomize replicas override of the workload name
// (a Deployment, usually the application's own name) to n, keeping the
// overrides of other workloads. It does not sync.
func (c *Client) SetReplicas(ctx context.Context, name string, n int32) error {
	if name == "" || n < 0 {
		return fmt.Errorf("set replicas of application %q: want a workload name and a count >= 0, got %q and %d", c.cfg.App, name, n)
	}
	a, err := c.Application(ctx)
	if err != nil {
		return err
	}
	if err := c.singleSource(a, "set replicas of"); err != nil {
		return err
	}
	if a.SourceType != SourceKustomize && a.SourceType != "" {
		return fmt.Errorf("set replicas of application %q: its source type is %s; "+
			"replicas can be overridden only on a Kustomize source", c.cfg.App, a.SourceType)
	}
	replicas := make([]map[string]any, 0, len(a.Replicas)+1)
	found := false
	for _, r := range a.Replicas {
		if r.Name == name {
			r.Count, found = n, true
		}
		replicas = append(replicas, map[string]any{"name": r.Name, "count": r.Count})
	}
	if !found {
		replicas = append(replicas, map[string]any{"name": name, "count": n})
	}
	return c.patchSource(ctx, "set replicas of", map[string]any{"kustomize": map[string]any{"replicas": replicas}})
}

// Sync starts a sync of the application to its target revision. When Argo
// CD answers that another operation is already in progress (automated sync
// was quicker), that operation does the work and Sync returns nil.
func (c *Client) Sync(ctx context.Context) error {
	body := map[string]any{"name": c.cfg.App}
	if c.cfg.Project != "" {
		body["project"] = c.cfg.Project
	}
	err := c.do(ctx, "sync", http.MethodPost, c.appPath("/sync"), nil, body, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && strings.Contains(apiErr.Message, "another operation is already in progress") {
		return nil
	}
	return err
}

func (c *Client) singleSource(a App, op string) error {
	if a.MultiSource {
		return fmt.Errorf("%s application %q: it has several sources (spec.sources); only single-source applications are supported", op, c.cfg.App)
	}
	return nil
}

// patchSource merges fields into spec.source with a JSON merge patch. Lists
// in a merge patch replace the whole list, so callers send complete lists.
func (c *Client) patchSource(ctx context.Context, op string, fields map[string]any) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"source": fields}})
	if err != nil {
		return fmt.Errorf("%s application %q: %w", op, c.cfg.App, err)
	}
	body := map[string]any{"name": c.cfg.App, "patchType": "merge", "patch": string(patch)}
	if c.cfg.Project != "" {
		body["project"] = c.cfg.Project
	}
	return c.do(ctx, op, http.MethodPatch, c.appPath(""), nil, body, nil)
}

// withHelmParameter returns params with name set to value (replaced in
// place or appended).
func withHelmParameter(params []HelmParameter, name, value string) []HelmParameter {
	out := make([]HelmParameter, 0, len(params)+1)
	found := false
	for _, p := range params {
		if p.Name == name {
			p.Value, found = value, true
		}
		out = append(out, p)
	}
	if !found {
		out = append(out, HelmParameter{Name: name, Value: value, ForceString: true})
	}
	return out
}

func helmJSON(params []HelmParameter) []map[string]any {
	out := make([]map[string]any, len(params))
	for i, p := range params {
		m := map[string]any{"name": p.Name, "value": p.Value}
		if p.ForceString {
			m["forceString"] = true
		}
		out[i] = m
	}
	return out
}

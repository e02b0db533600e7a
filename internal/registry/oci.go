package registry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"gitlab.com/derrick-kit/derrick/internal/imageref"
)

// OCIConfig configures the OCI distribution source.
type OCIConfig struct {
	Image    string // REGISTRY_IMAGE: host[:port]/path without tag, such as registry.example.com/oil/app
	Username string // REGISTRY_USERNAME; empty: anonymous
	Password string // REGISTRY_PASSWORD
	Insecure bool   // REGISTRY_INSECURE: plain HTTP instead of HTTPS
	// CacheTTL is how long a listing is reused (REGISTRY_CACHE_TTL); 0: not
	// at all, but concurrent calls still share one listing.
	CacheTTL time.Duration
	// Timeout bounds each request; 0: DefaultRequestTimeout.
	Timeout time.Duration
	// Transport is optional; the default is http.DefaultTransport's.
	Transport http.RoundTripper
	Logger    *slog.Logger // optional; slog.Default()
}

// Validate checks each setting and names the variable at fault.
func (c OCIConfig) Validate() error {
	if _, _, err := parseImage(c.Image); err != nil {
		return err
	}
	if c.Username != "" && c.Password == "" {
		return errors.New("REGISTRY_PASSWORD is required when REGISTRY_USERNAME is set")
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("REGISTRY_USERNAME is required when REGISTRY_PASSWORD is set")
	}
	if strings.Contains(c.Username, ":") {
		return fmt.Errorf("REGISTRY_USERNAME must not contain a colon, got %q", c.Username)
	}
	return ValidateCacheTTL(c.CacheTTL)
}

var (
	hostRE          = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
)

const imageExample = "registry.example.com/oil/app"

// parseImage splits an image reference without tag into the registry host
// and the repository name, mapping docker.io to its registry host.
func parseImage(s string) (host, name string, err error) {
	bad := func(hint string) error {
		return fmt.Errorf("REGISTRY_IMAGE must be an image reference without tag such as %s%s, got %q", imageExample, hint, s)
	}
	if s == "" {
		return "", "", fmt.Errorf("REGISTRY_IMAGE is required: an image reference without tag such as %s", imageExample)
	}
	if strings.Contains(s, "://") {
		return "", "", bad(" (no scheme; REGISTRY_INSECURE=true selects plain HTTP)")
	}
	if i := strings.LastIndex(s, "/"); i >= 0 {
		if j := strings.IndexAny(s[i+1:], ":@"); j >= 0 {
			return "", "", bad(fmt.Sprintf(" (drop %q)", s[i+1+j:]))
		}
	}
	host, name, ok := strings.Cut(s, "/")
	if !ok || !hostRE.MatchString(host) || !imageref.HasRegistryHost(s) {
		return "", "", bad(" (it starts with the registry host)")
	}
	for c := range strings.SplitSeq(name, "/") {
		if !pathComponentRE.MatchString(c) {
			return "", "", bad(" (path components are lower-case letters, digits and . _ -)")
		}
	}
	if host == "docker.io" || host == "index.docker.io" {
		host = "registry-1.docker.io"
		if !strings.Contains(name, "/") {
			name = "library/" + name
		}
	}
	return host, name, nil
}

// OCI lists tags through the OCI distribution API (Docker Registry HTTP API
// v2) with go-containerregistry: tags/list with its Link pages, a HEAD per
// tag for its digest, and, once per digest, the manifest and the image
// config (content-addressed, so never read again). It is safe for
// concurrent use.
type OCI struct {
	repo   name.Repository
	puller *remote.Puller
	image  string // REGISTRY_IMAGE as configured, for messages
	user   string
	pass   string
	listing

	mu      sync.Mutex
	created map[string]time.Time // manifest digest -> build time
}

// maxCachedDigests bounds the digest cache; past it, it starts afresh.
const maxCachedDigests = 50000

// NewOCI validates cfg and returns an OCI source. It makes no request.
func NewOCI(cfg OCIConfig) (*OCI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, path, _ := parseImage(cfg.Image)
	var opts []name.Option
	if cfg.Insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(host+"/"+path, opts...)
	if err != nil {
		return nil, fmt.Errorf("REGISTRY_IMAGE %q: %w", cfg.Image, err)
	}
	auth := authn.Anonymous
	if cfg.Username != "" {
		auth = &authn.Basic{Username: cfg.Username, Password: cfg.Password}
	}
	timeout := cmp.Or(cfg.Timeout, DefaultRequestTimeout)
	g := &guard{inner: cmp.Or(cfg.Transport, http.DefaultTransport), insecure: cfg.Insecure, timeout: timeout}
	puller, err := remote.NewPuller(remote.WithAuth(auth), remote.WithTransport(g),
		// No retries of its own: a command has a deadline, and the next
		// command lists again.
		remote.WithRetryPredicate(func(error) bool { return false }), remote.WithRetryStatusCodes(),
		remote.WithUserAgent("derrick-bot"))
	if err != nil {
		return nil, fmt.Errorf("registry client for %s: %w", cfg.Image, err)
	}
	o := &OCI{repo: repo, puller: puller, image: cfg.Image, user: cfg.Username, pass: cfg.Password, created: make(map[string]time.Time)}
	o.init("registry of "+cfg.Image, cfg.CacheTTL, cfg.Logger, o.list)
	return o, nil
}

func (o *OCI) list(ctx context.Context) ([]Tag, error) {
	names, err := o.listNames(ctx)
	if err != nil {
		return nil, o.explain("list tags of "+o.image, err)
	}
	o.mu.Lock()
	cold := len(o.created) == 0
	o.mu.Unlock()
	// A tag that vanished since it was listed stays the zero Tag; one whose
	// details failed is listed with its name and error.
	tags := make([]Tag, len(names))
	errs := make([]error, len(names))
	err = forEach(ctx, len(names), concurrency, func(ctx context.Context, i int) error {
		t, _, err := o.describe(ctx, names[i], cold)
		if err != nil && ctx.Err() != nil {
			return err
		}
		tags[i], errs[i] = t, err
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(tags))
	failed := make(map[string]error)
	for i, t := range tags {
		if t.Name != "" {
			out = append(out, t)
		}
		if errs[i] != nil {
			failed[t.Name] = errs[i]
		}
	}
	if len(failed) > 0 && len(failed) == len(out) {
		// Not one tag could be read: the registry is failing, not a tag.
		return nil, errs[slices.IndexFunc(errs, func(e error) bool { return e != nil })]
	}
	o.failures.report(failed)
	SortNewestFirst(out)
	return out, nil
}

// Resolve reads one tag's current digest with a HEAD of its manifest (a GET
// where the registry gives no digest), never from the listing cache; the
// build time comes from the digest cache or, for a digest not seen yet, from
// its manifest and config. A build time that cannot be read leaves Created
// zero: the digest is what a confirmation compares.
func (o *OCI) Resolve(ctx context.Context, tag string) (Tag, error) {
	if err := checkTag(tag); err != nil {
		return Tag{}, err
	}
	t, ok, err := o.describe(ctx, tag, false)
	switch {
	case err != nil && t.Digest != "" && ctx.Err() == nil:
		o.failures.log.Warn("tag resolved without build time: reading its details failed",
			"source", o.failures.what, "tag", tag, "digest", t.Digest, "error", err.Error())
		return Tag{Name: tag, Digest: t.Digest}, nil
	case err != nil:
		return Tag{}, err
	case !ok:
		return Tag{}, fmt.Errorf("get manifest of %s:%s: %w", o.image, tag, ErrTagNotFound)
	}
	return t, nil
}

var errColdStart = errors.New("no digest known yet")

// maxTagPages stops a registry whose Link headers loop.
const maxTagPages = 10000

// listNames follows the tags/list pages, dropping repeated names.
func (o *OCI) listNames(ctx context.Context) ([]string, error) {
	lister, err := o.puller.Lister(ctx, o.repo)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := make(map[string]bool)
	for pages := 0; lister.HasNext(); pages++ {
		if pages == maxTagPages {
			return nil, fmt.Errorf("more than %d pages: the registry's Link headers loop", maxTagPages)
		}
		page, err := lister.Next(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range page.Tags {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names, nil
}

// describe finds the tag's digest (a HEAD; when cold, with no digest known
// yet, the manifest is needed anyway and read at once) and its build time. ok is false when the
// tag vanished since it was listed. On an error t may still hold the digest.
func (o *OCI) describe(ctx context.Context, tag string, cold bool) (t Tag, ok bool, err error) {
	ref := o.repo.Tag(tag)
	what := "get manifest of " + o.image + ":" + tag
	t.Name = tag
	var desc *remote.Descriptor
	err = errColdStart
	if !cold {
		var head *v1.Descriptor
		if head, err = o.puller.Head(ctx, ref); err == nil {
			t.Digest = head.Digest.String()
		}
	}
	if err != nil {
		if isStatus(err, http.StatusNotFound) {
			return Tag{}, false, nil
		}
		if ctx.Err() != nil {
			return t, false, o.explain(what, err)
		}
		// Cold, or no usable HEAD (some registries omit the digest): read the manifest.
		if desc, err = o.puller.Get(ctx, ref); err != nil {
			if isStatus(err, http.StatusNotFound) {
				return Tag{}, false, nil
			}
			return t, false, o.explain(what, err)
		}
		t.Digest = desc.Digest.String()
	}
	if t.Created, err = o.buildTime(ctx, t.Digest, desc, 0); err != nil {
		return t, false, o.explain(what, err)
	}
	return t, true, nil
}

// buildTime returns the created time of the image a manifest describes, by
// digest, from the cache or by reading the manifest (desc when already read)
// and its config: for an index or manifest list that of its linux/amd64
// image (else the first). An image without a usable created time gives the
// zero time.
func (o *OCI) buildTime(ctx context.Context, digest string, desc *remote.Descriptor, depth int) (time.Time, error) {
	o.mu.Lock()
	created, cached := o.created[digest]
	o.mu.Unlock()
	if cached {
		return created, nil
	}
	if desc == nil {
		var err error
		if desc, err = o.puller.Get(ctx, o.repo.Digest(digest)); err != nil {
			return time.Time{}, err
		}
	}
	created, err := o.readBuildTime(ctx, desc, depth)
	if err != nil {
		return time.Time{}, err
	}
	o.mu.Lock()
	if len(o.created) >= maxCachedDigests {
		o.created = make(map[string]time.Time)
	}
	o.created[digest] = created
	o.mu.Unlock()
	return created, nil
}

func (o *OCI) readBuildTime(ctx context.Context, desc *remote.Descriptor, depth int) (time.Time, error) {
	switch mt := desc.MediaType; {
	case mt.IsIndex():
		if depth > 2 {
			return time.Time{}, nil
		}
		im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return time.Time{}, fmt.Errorf("decode index: %w", err)
		}
		if len(im.Manifests) == 0 {
			return time.Time{}, nil
		}
		return o.buildTime(ctx, pickPlatform(im.Manifests).Digest.String(), nil, depth+1)
	case mt.IsSchema1():
		var m struct {
			History []struct {
				V1Compatibility string `json:"v1Compatibility"`
			} `json:"history"`
		}
		if json.Unmarshal(desc.Manifest, &m) != nil || len(m.History) == 0 {
			return time.Time{}, nil
		}
		return createdField([]byte(m.History[0].V1Compatibility)), nil
	case mt.IsImage():
		img, err := desc.Image()
		if err != nil {
			return time.Time{}, err
		}
		m, err := img.Manifest()
		if err != nil {
			return time.Time{}, fmt.Errorf("decode manifest: %w", err)
		}
		if cmt := string(m.Config.MediaType); cmt != "" && !strings.HasSuffix(cmt, "json") {
			return time.Time{}, nil // an artifact, not an image
		}
		raw, err := img.RawConfigFile()
		if err != nil {
			return time.Time{}, fmt.Errorf("get config blob %s: %w", m.Config.Digest, err)
		}
		return createdField(raw), nil
	}
	return time.Time{}, nil
}

func pickPlatform(ds []v1.Descriptor) v1.Descriptor {
	for _, d := range ds {
		if p := d.Platform; p != nil && p.OS == "linux" && p.Architecture == "amd64" {
			return d
		}
	}
	for _, d := range ds {
		if p := d.Platform; p == nil || p.OS != "unknown" { // skip attestations
			return d
		}
	}
	return ds[0]
}

// createdField reads "created" from an image config; absent, unparsable and
// the epoch (reproducible builds) count as unknown.
func createdField(b []byte) time.Time {
	var c struct {
		Created string `json:"created"`
	}
	if json.Unmarshal(b, &c) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, c.Created)
	if err != nil || t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

func isStatus(err error, status int) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == status
}

// explain turns a registry or token service error into one that says what
// failed and, where that is known, what to fix; secrets are masked.
func (o *OCI) explain(what string, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		msg := err.Error()
		if strings.Contains(msg, "pagination URL") {
			msg = "the registry's Link header points to another host or scheme; refusing to follow it (credentials go only to the registry): " + msg
		}
		return fmt.Errorf("%s: %s", what, o.mask(msg))
	}
	server := "registry"
	if r := te.Request; r != nil && (r.URL.Host != o.repo.RegistryStr() || !strings.HasPrefix(r.URL.Path, "/v2/")) {
		server = "token service"
		realm := *r.URL
		realm.RawQuery = ""
		what = fmt.Sprintf("get a pull token for %s from %s", o.image, realm.Redacted())
	}
	var body []byte
	if te.Request != nil {
		body, _ = te.Request.Context().Value(errorBodyKey{}).([]byte)
	}
	msg := fmt.Sprintf("%s: %d %s%s", what, te.StatusCode, http.StatusText(te.StatusCode), o.errorDetail(te, body))
	who := "anonymous access"
	if o.user != "" {
		who = fmt.Sprintf("REGISTRY_USERNAME %q", o.user)
	}
	switch te.StatusCode {
	case http.StatusUnauthorized:
		if o.user == "" {
			msg += ": the " + server + " requires credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD"
		} else {
			msg += fmt.Sprintf(": the %s rejected %s and REGISTRY_PASSWORD: check them", server, who)
		}
	case http.StatusForbidden:
		msg += fmt.Sprintf(": %s may not pull from this repository: grant it read access", who)
	case http.StatusNotFound:
		msg += ": check REGISTRY_IMAGE, or push an image first"
	}
	return errors.New(msg)
}

// errorDetail summarises an error answer ("" if empty), with any secret
// masked: the registry's errors array, a token service's details, or a
// short plain-text body.
func (o *OCI) errorDetail(te *transport.Error, body []byte) string {
	var parts []string
	for _, d := range te.Errors {
		parts = append(parts, strings.TrimSpace(string(d.Code)+" "+d.Message))
	}
	if len(parts) == 0 {
		var doc struct {
			Details string `json:"details"` // token services
		}
		if json.Unmarshal(body, &doc) == nil {
			if doc.Details != "" {
				parts = append(parts, doc.Details)
			}
		} else if t := string(bytes.TrimSpace(body)); t != "" && !bytes.ContainsAny(body, "<\x00") {
			parts = append(parts, strings.Join(strings.Fields(t), " "))
		}
	}
	s := strings.Join(parts, "; ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return ""
	}
	return " (" + o.mask(s) + ")"
}

// mask hides the password should a server echo it.
func (o *OCI) mask(s string) string {
	if len(o.pass) >= 4 {
		s = strings.ReplaceAll(s, o.pass, "***")
	}
	return s
}

// guard is the transport under go-containerregistry's: it bounds each
// request in time, refuses plain HTTP unless REGISTRY_INSECURE=true (also
// to a token service, which would get REGISTRY_PASSWORD), and keeps the body
// of an error answer for explain.
type guard struct {
	inner    http.RoundTripper
	insecure bool
	timeout  time.Duration
}

type errorBodyKey struct{}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure {
		return nil, fmt.Errorf("refusing plain HTTP to %s (credentials and tokens would travel in clear): "+
			"use HTTPS, or set REGISTRY_INSECURE=true for a registry without TLS", req.URL.Host)
	}
	parent := req.Context()
	ctx, cancel := context.WithTimeout(parent, g.timeout)
	req = req.WithContext(ctx)
	resp, err := g.inner.RoundTrip(req)
	if err != nil {
		cancel()
		if parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s did not answer within %s", req.URL.Host, g.timeout)
		}
		return nil, err
	}
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.Request = resp.Request.WithContext(context.WithValue(resp.Request.Context(), errorBodyKey{}, b))
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel, host: req.URL.Host, timeout: g.timeout, ctx: ctx}
	return resp, nil
}

// cancelBody ends a request's timeout once its body is read and closed.
type cancelBody struct {
	io.ReadCloser
	cancel  context.CancelFunc
	ctx     context.Context
	host    string
	timeout time.Duration
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), context.DeadlineExceeded) {
		err = fmt.Errorf("%s did not finish sending an answer within %s", b.host, b.timeout)
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

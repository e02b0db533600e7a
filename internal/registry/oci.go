package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/imageref"
)

// OCIConfig configures the OCI distribution source.
type OCIConfig struct {
	Image    string // REGISTRY_IMAGE: host[:port]/path without tag, such as registry.example.com/oil/app
	Username string // REGISTRY_USERNAME; empty: anonymous
	Password string // REGISTRY_PASSWORD
	Insecure bool   // REGISTRY_INSECURE: plain HTTP instead of HTTPS
	// HTTPClient is optional; the default gives up on a request after a minute.
	HTTPClient *http.Client
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
	return nil
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
// v2). It is safe for concurrent use.
type OCI struct {
	hc       *http.Client
	base     string // scheme://host
	name     string // repository name
	image    string // REGISTRY_IMAGE as configured, for messages
	user     string
	pass     string
	insecure bool

	fetchMu sync.Mutex // one token fetch at a time
	mu      sync.Mutex // guards token and created
	token   string
	created map[string]time.Time // manifest digest -> build time; digests are immutable
}

// NewOCI validates cfg and returns an OCI source. It makes no request.
func NewOCI(cfg OCIConfig) (*OCI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, name, _ := parseImage(cfg.Image)
	scheme := "https"
	if cfg.Insecure {
		scheme = "http"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	return &OCI{
		hc: hc, base: scheme + "://" + host, name: name, image: cfg.Image,
		user: cfg.Username, pass: cfg.Password, insecure: cfg.Insecure,
		created: make(map[string]time.Time),
	}, nil
}

// Media types of manifests this source reads.
const (
	mediaOCIIndex      = "application/vnd.oci.image.index.v1+json"
	mediaOCIManifest   = "application/vnd.oci.image.manifest.v1+json"
	mediaDockerList    = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerV2      = "application/vnd.docker.distribution.manifest.v2+json"
	maxManifestBytes   = 4 << 20
	maxTagListBytes    = 16 << 20
	maxConfigBlobBytes = 8 << 20
	maxTagPages        = 10000
)

var manifestAccept = strings.Join([]string{mediaOCIIndex, mediaOCIManifest, mediaDockerList, mediaDockerV2}, ", ")

// Tags lists every tag with its build time (from the image config's created
// field) and manifest digest, newest first.
func (o *OCI) Tags(ctx context.Context) ([]Tag, error) {
	names, err := o.listTags(ctx)
	if err != nil {
		return nil, err
	}
	tags := make([]Tag, len(names))
	found := make([]bool, len(names))
	err = forEach(ctx, len(names), concurrency, func(ctx context.Context, i int) error {
		t, ok, err := o.describe(ctx, names[i])
		tags[i], found[i] = t, ok
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(tags))
	for i, t := range tags {
		if found[i] {
			out = append(out, t)
		}
	}
	SortNewestFirst(out)
	return out, nil
}

// listTags follows the Link rel="next" pages of /v2/<name>/tags/list.
func (o *OCI) listTags(ctx context.Context) ([]string, error) {
	what := "list tags of " + o.image
	next := o.base + "/v2/" + o.name + "/tags/list?n=100"
	var names []string
	seen := make(map[string]bool)
	for pages := 0; next != ""; pages++ {
		if pages == maxTagPages {
			return nil, fmt.Errorf("%s: more than %d pages: the registry's Link headers loop", what, maxTagPages)
		}
		resp, err := o.get(ctx, next, "application/json")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		body, err := o.readOK(resp, what, maxTagListBytes)
		if err != nil {
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("%s: decode %s: %w", what, resp.Request.URL.Redacted(), err)
		}
		for _, t := range page.Tags {
			if !seen[t] {
				seen[t] = true
				names = append(names, t)
			}
		}
		next, err = o.nextLink(resp)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return names, nil
}

// nextLink returns the absolute URL of the Link rel="next" header, "" if none.
// It refuses a link to another registry: credentials go only to this one.
func (o *OCI) nextLink(resp *http.Response) (string, error) {
	for _, v := range resp.Header.Values("Link") {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			end := strings.Index(part, ">")
			if !strings.HasPrefix(part, "<") || end < 0 {
				continue
			}
			isNext := false
			for p := range strings.SplitSeq(part[end+1:], ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") &&
					strings.Contains(" "+strings.Trim(strings.TrimSpace(val), `"`)+" ", " next ") {
					isNext = true
				}
			}
			if !isNext {
				continue
			}
			u, err := resp.Request.URL.Parse(part[1:end])
			if err != nil {
				return "", fmt.Errorf("bad Link header %q: %w", v, err)
			}
			if u.Scheme+"://"+u.Host != o.base {
				return "", fmt.Errorf("Link header points to another registry (%s); refusing to follow it", u.Redacted())
			}
			return u.String(), nil
		}
	}
	return "", nil
}

// describe reads the tag's manifest and its image config. ok is false when
// the tag vanished since it was listed.
func (o *OCI) describe(ctx context.Context, tag string) (t Tag, ok bool, err error) {
	ref := o.image + ":" + tag
	body, digest, err := o.manifest(ctx, tag, ref)
	if se := (*statusError)(nil); errors.As(err, &se) && se.status == http.StatusNotFound {
		return Tag{}, false, nil
	}
	if err != nil {
		return Tag{}, false, err
	}
	t = Tag{Name: tag, Digest: digest}
	o.mu.Lock()
	created, cached := o.created[digest]
	o.mu.Unlock()
	if !cached {
		if created, err = o.buildTime(ctx, body, ref, 0); err != nil {
			return Tag{}, false, err
		}
		o.mu.Lock()
		o.created[digest] = created
		o.mu.Unlock()
	}
	t.Created = created
	return t, true, nil
}

var digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)

// manifest fetches a manifest by tag or digest and returns it with its digest.
func (o *OCI) manifest(ctx context.Context, reference, what string) ([]byte, string, error) {
	what = "get manifest of " + what
	resp, err := o.get(ctx, o.base+"/v2/"+o.name+"/manifests/"+url.PathEscape(reference), manifestAccept)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	body, err := o.readOK(resp, what, maxManifestBytes)
	if err != nil {
		return nil, "", err
	}
	digest := resp.Header.Get("Docker-Content-Digest")
	if !digestRE.MatchString(digest) {
		sum := sha256.Sum256(body)
		digest = "sha256:" + hex.EncodeToString(sum[:])
	}
	return body, digest, nil
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform"`
}

type manifestDoc struct {
	MediaType string       `json:"mediaType"`
	Config    *descriptor  `json:"config"`
	Manifests []descriptor `json:"manifests"`
	History   []struct {
		V1Compatibility string `json:"v1Compatibility"`
	} `json:"history"` // Docker schema 1
}

// buildTime returns the created time of the image a manifest describes: for
// an index or manifest list that of its linux/amd64 image (else the first).
// An image without a usable created time gives the zero time.
func (o *OCI) buildTime(ctx context.Context, body []byte, what string, depth int) (time.Time, error) {
	var m manifestDoc
	if err := json.Unmarshal(body, &m); err != nil {
		return time.Time{}, fmt.Errorf("decode manifest of %s: %w", what, err)
	}
	switch {
	case len(m.Manifests) > 0:
		if depth > 2 {
			return time.Time{}, nil
		}
		d := pickPlatform(m.Manifests)
		child, _, err := o.manifest(ctx, d.Digest, what+"@"+d.Digest)
		if err != nil {
			return time.Time{}, err
		}
		return o.buildTime(ctx, child, what, depth+1)
	case m.Config != nil && m.Config.Digest != "":
		if mt := m.Config.MediaType; mt != "" && !strings.HasSuffix(mt, "json") {
			return time.Time{}, nil // an artifact, not an image
		}
		bwhat := fmt.Sprintf("get config blob %s of %s", m.Config.Digest, what)
		resp, err := o.get(ctx, o.base+"/v2/"+o.name+"/blobs/"+url.PathEscape(m.Config.Digest), "")
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", bwhat, err)
		}
		blob, err := o.readOK(resp, bwhat, maxConfigBlobBytes)
		if err != nil {
			return time.Time{}, err
		}
		return createdField(blob), nil
	case len(m.History) > 0:
		return createdField([]byte(m.History[0].V1Compatibility)), nil
	}
	return time.Time{}, nil
}

func pickPlatform(ds []descriptor) descriptor {
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

// get sends an authenticated GET: Bearer once a token is held, else Basic
// when a username is set. A Bearer challenge fetches a token and retries once.
func (o *OCI) get(ctx context.Context, u, accept string) (*http.Response, error) {
	for retried := false; ; retried = true {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		o.mu.Lock()
		token := o.token
		o.mu.Unlock()
		switch {
		case token != "":
			req.Header.Set("Authorization", "Bearer "+token)
		case o.user != "":
			req.SetBasicAuth(o.user, o.pass)
		}
		resp, err := o.hc.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized || retried {
			return resp, nil
		}
		ch, ok := bearerChallenge(resp.Header.Values("WWW-Authenticate"))
		if !ok {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := o.refreshToken(ctx, ch, token); err != nil {
			return nil, err
		}
	}
}

// refreshToken replaces stale with a new token unless another request did
// so meanwhile.
func (o *OCI) refreshToken(ctx context.Context, ch map[string]string, stale string) error {
	o.fetchMu.Lock()
	defer o.fetchMu.Unlock()
	o.mu.Lock()
	cur := o.token
	o.mu.Unlock()
	if cur != "" && cur != stale {
		return nil
	}
	tok, err := o.fetchToken(ctx, ch)
	if err != nil {
		return err
	}
	o.mu.Lock()
	o.token = tok
	o.mu.Unlock()
	return nil
}

// fetchToken asks the challenge's realm for a pull token.
func (o *OCI) fetchToken(ctx context.Context, ch map[string]string) (string, error) {
	realm, err := url.Parse(ch["realm"])
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") || realm.Host == "" {
		return "", fmt.Errorf("registry of %s sent a Bearer challenge without a usable realm (%q)", o.image, ch["realm"])
	}
	what := fmt.Sprintf("get a pull token for %s from %s", o.image, realm.Redacted())
	if realm.Scheme == "http" && o.user != "" && !o.insecure {
		return "", fmt.Errorf("%s: the token service is plain HTTP; refusing to send REGISTRY_PASSWORD (set REGISTRY_INSECURE=true to allow)", what)
	}
	q := realm.Query()
	if s := ch["service"]; s != "" {
		q.Set("service", s)
	}
	scope := ch["scope"]
	if scope == "" {
		scope = "repository:" + o.name + ":pull"
	}
	q.Set("scope", scope)
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if o.user != "" {
		req.SetBasicAuth(o.user, o.pass)
	}
	resp, err := o.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	body, err := o.read(resp, "token service", what, 1<<20)
	if err != nil {
		return "", err
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", fmt.Errorf("%s: decode the token response: %w", what, err)
	}
	if tr.Token != "" {
		return tr.Token, nil
	}
	if tr.AccessToken != "" {
		return tr.AccessToken, nil
	}
	return "", fmt.Errorf("%s: the response has neither token nor access_token", what)
}

// bearerChallenge returns the parameters of a Bearer challenge, if any.
func bearerChallenge(values []string) (map[string]string, bool) {
	for _, v := range values {
		for _, ch := range parseChallenges(v) {
			if ch.scheme == "bearer" {
				return ch.params, true
			}
		}
	}
	return nil, false
}

type challenge struct {
	scheme string // lower case
	params map[string]string
}

// parseChallenges parses a WWW-Authenticate value (RFC 9110 section 11.6.1):
// schemes followed by comma-separated name=value or name="quoted value".
func parseChallenges(s string) []challenge {
	var out []challenge
	skip := func(set string) {
		for s != "" && strings.ContainsRune(set, rune(s[0])) {
			s = s[1:]
		}
	}
	token := func() string {
		i := strings.IndexAny(s, " \t,=\"")
		if i < 0 {
			i = len(s)
		}
		t := s[:i]
		s = s[i:]
		return t
	}
	for {
		skip(" \t,")
		if s == "" {
			return out
		}
		name := token()
		if name == "" { // stray character
			s = s[1:]
			continue
		}
		skip(" \t")
		if s == "" || s[0] != '=' || len(out) == 0 {
			if s != "" && s[0] == '=' { // a parameter before any scheme
				s = s[1:]
				continue
			}
			out = append(out, challenge{scheme: strings.ToLower(name), params: map[string]string{}})
			continue
		}
		s = s[1:]
		skip(" \t")
		var val string
		if s != "" && s[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			val = b.String()
			s = s[min(i+1, len(s)):]
		} else {
			val = token()
		}
		out[len(out)-1].params[strings.ToLower(name)] = val
	}
}

// statusError is a registry answer other than 200 OK.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// readOK reads and closes the body of a 200 response, and turns any other
// status into a statusError that says what to fix where that is known.
func (o *OCI) readOK(resp *http.Response, what string, limit int64) ([]byte, error) {
	return o.read(resp, "registry", what, limit)
}

// read is readOK for a server named in messages ("registry", "token service").
func (o *OCI) read(resp *http.Response, server, what string, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, fmt.Errorf("%s: read the response: %w", what, err)
		}
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("%s: response larger than %d bytes", what, limit)
		}
		return b, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	msg := fmt.Sprintf("%s: %s%s", what, resp.Status, o.errorDetail(b))
	who := "anonymous access"
	if o.user != "" {
		who = fmt.Sprintf("REGISTRY_USERNAME %q", o.user)
	}
	switch resp.StatusCode {
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
	return nil, &statusError{status: resp.StatusCode, msg: msg}
}

// errorDetail summarises an error body ("" if empty), with any secret masked.
func (o *OCI) errorDetail(b []byte) string {
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
		Details string `json:"details"` // token services
	}
	var parts []string
	if json.Unmarshal(b, &doc) == nil {
		for _, e := range doc.Errors {
			parts = append(parts, strings.TrimSpace(e.Code+" "+e.Message))
		}
		if doc.Details != "" {
			parts = append(parts, doc.Details)
		}
	} else if t := string(bytes.TrimSpace(b)); t != "" && !bytes.ContainsAny(b, "<\x00") {
		parts = append(parts, strings.Join(strings.Fields(t), " "))
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

// mask hides the password and the bearer token should a server echo them.
func (o *OCI) mask(s string) string {
	o.mu.Lock()
	token := o.token
	o.mu.Unlock()
	for _, secret := range []string{o.pass, token} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

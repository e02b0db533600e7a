package registry

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// Media types of the manifests the fake registry stores.
const (
	mediaOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mediaOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaDockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerV2    = "application/vnd.docker.distribution.manifest.v2+json"
)

const (
	ociUser     = "bot"
	ociPassword = "s3cret-PASSWORD-42"
	ociToken    = "tok-ABCDEF-123456"
)

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

type stored struct {
	mediaType string
	body      []byte
}

// content is what a fake registry holds: manifests and blobs by digest, and
// tags in the order the registry lists them.
type content struct {
	manifests map[string]stored
	blobs     map[string][]byte
	tags      map[string]string
	order     []string
}

func newContent() *content {
	return &content{manifests: map[string]stored{}, blobs: map[string][]byte{}, tags: map[string]string{}}
}

func (c *content) put(tag, mediaType string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	d := digestOf(b)
	c.manifests[d] = stored{mediaType, b}
	if tag != "" {
		c.tags[tag] = d
		c.order = append(c.order, tag)
	}
	return d
}

// image stores a single-platform image whose config says created ("" for
// none) and returns its manifest digest.
func (c *content) image(tag, created, arch string, docker bool) string {
	cfg := map[string]any{"architecture": arch, "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}}
	if created != "" {
		cfg["created"] = created
	}
	cb, _ := json.Marshal(cfg)
	cd := digestOf(cb)
	c.blobs[cd] = cb
	mt, cmt := mediaOCIManifest, "application/vnd.oci.image.config.v1+json"
	if docker {
		mt, cmt = mediaDockerV2, "application/vnd.docker.container.image.v1+json"
	}
	return c.put(tag, mt, map[string]any{
		"schemaVersion": 2, "mediaType": mt,
		"config": map[string]any{"mediaType": cmt, "digest": cd, "size": len(cb)},
		"layers": []any{},
	})
}

// index stores an image index (or Docker manifest list) of digests with
// their architectures.
func (c *content) index(tag string, docker bool, archDigests ...string) string {
	mt, child := mediaOCIIndex, mediaOCIManifest
	if docker {
		mt, child = mediaDockerList, mediaDockerV2
	}
	var ms []any
	for i := 0; i < len(archDigests); i += 2 {
		os, arch := "linux", archDigests[i]
		if arch == "unknown" {
			os = "unknown"
		}
		d := archDigests[i+1]
		ms = append(ms, map[string]any{"mediaType": child, "digest": d, "size": len(c.manifests[d].body),
			"platform": map[string]string{"architecture": arch, "os": os}})
	}
	return c.put(tag, mt, map[string]any{"schemaVersion": 2, "mediaType": mt, "manifests": ms})
}

type fakeOCI struct {
	c           *content
	auth        string // "", "basic" or "bearer"
	anonymous   bool   // bearer: the token service needs no credentials
	tokenField  string // "token" or "access_token"
	pageSize    int
	omitDigest  bool
	tagsStatus  int    // non-zero: tags/list answers with it
	foreignLink bool   // tags/list links to another host
	vanished    string // a listed tag whose manifest is gone

	tokenFetches *atomic.Int32 // set by start
	blobGets     *atomic.Int32 // set by start
	manifestGets *atomic.Int32 // GET of a manifest, set by start
	heads        *atomic.Int32 // HEAD of a manifest, set by start
	requests     *atomic.Int32 // every request, set by start
	hang         chan struct{} // non-nil: repository requests wait until it is closed
	brokenBlob   string        // the config blob of this tag answers 500
	realm        string        // bearer: the token service's URL; "" = this server's /token
	tls          bool          // serve HTTPS
}

func (f *fakeOCI) start(t testing.TB) *httptest.Server {
	t.Helper()
	f.tokenFetches, f.blobGets, f.manifestGets, f.heads = new(atomic.Int32), new(atomic.Int32), new(atomic.Int32), new(atomic.Int32)
	f.requests = new(atomic.Int32)
	var srv *httptest.Server
	notFound := func(w http.ResponseWriter, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		switch {
		case r.URL.Path == "/token":
			f.tokenFetches.Add(1)
			q := r.URL.Query()
			u, p, ok := r.BasicAuth()
			if q.Get("service") != "fake-registry" || q.Get("scope") != "repository:oil/app:pull" {
				http.Error(w, `{"details":"bad service or scope"}`, http.StatusBadRequest)
				return
			}
			if !f.anonymous && (!ok || u != ociUser || p != ociPassword) {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"details":"incorrect username or password"}`)
				return
			}
			fmt.Fprintf(w, `{%q:%q,"expires_in":300}`, f.tokenField, ociToken)
			return
		case strings.HasPrefix(r.URL.Path, "/storage/"):
			b, ok := f.c.blobs[strings.TrimPrefix(r.URL.Path, "/storage/")]
			if !ok || r.Header.Get("Authorization") != "" { // credentials must not follow redirects
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			w.Write(b)
			return
		}
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		switch f.auth {
		case "basic":
			if u, p, ok := r.BasicAuth(); !ok || u != ociUser || p != ociPassword {
				w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		case "bearer":
			if r.Header.Get("Authorization") != "Bearer "+ociToken {
				realm := cmp.Or(f.realm, srv.URL+"/token")
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s",service="fake-registry",scope="repository:oil/app:pull"`, realm))
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		if r.URL.Path == "/v2/" { // the API version check
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "{}")
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/v2/oil/app/")
		if f.hang != nil {
			select {
			case <-f.hang:
			case <-r.Context().Done():
				return
			}
		}
		if !ok {
			notFound(w, "NAME_UNKNOWN", "repository name not known to registry")
			return
		}
		switch {
		case rest == "tags/list":
			if f.tagsStatus != 0 {
				w.WriteHeader(f.tagsStatus)
				fmt.Fprint(w, `{"errors":[{"code":"UNKNOWN","message":"storage backend down"}]}`)
				return
			}
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			if n <= 0 || n > f.pageSize {
				n = f.pageSize
			}
			lo := 0
			if last := r.URL.Query().Get("last"); last != "" {
				for i, tag := range f.c.order {
					if tag == last {
						lo = i + 1
					}
				}
			}
			hi := min(lo+n, len(f.c.order))
			if hi < len(f.c.order) {
				host := ""
				if f.foreignLink {
					host = "http://evil.example"
				}
				w.Header().Set("Link", fmt.Sprintf(`<%s/v2/oil/app/tags/list?last=%s&n=%d>; rel="next"`, host, url.QueryEscape(f.c.order[hi-1]), n))
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"name": "oil/app", "tags": f.c.order[lo:hi]})
		case strings.HasPrefix(rest, "manifests/"):
			if r.Method == http.MethodHead {
				f.heads.Add(1)
			} else {
				f.manifestGets.Add(1)
			}
			ref := strings.TrimPrefix(rest, "manifests/")
			d := ref
			if !strings.HasPrefix(ref, "sha256:") {
				d = f.c.tags[ref]
			}
			m, ok := f.c.manifests[d]
			if !ok || ref == f.vanished {
				notFound(w, "MANIFEST_UNKNOWN", "manifest unknown")
				return
			}
			if !strings.Contains(r.Header.Get("Accept"), m.mediaType) {
				http.Error(w, "Accept lacks "+m.mediaType, http.StatusNotAcceptable)
				return
			}
			w.Header().Set("Content-Type", m.mediaType)
			if !f.omitDigest {
				w.Header().Set("Docker-Content-Digest", d)
			}
			w.Write(m.body)
		case strings.HasPrefix(rest, "blobs/"):
			f.blobGets.Add(1)
			if f.brokenBlob != "" && strings.Contains(string(f.c.manifests[f.c.tags[f.brokenBlob]].body), strings.TrimPrefix(rest, "blobs/")) {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"errors":[{"code":"UNKNOWN","message":"blob storage hiccup"}]}`)
				return
			}
			// Storage on another host name: credentials must not follow.
			storage := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
			http.Redirect(w, r, storage+"/storage/"+strings.TrimPrefix(rest, "blobs/"), http.StatusTemporaryRedirect)
		default:
			notFound(w, "NAME_UNKNOWN", "repository name not known to registry")
		}
	})
	if f.tls {
		srv = httptest.NewTLSServer(handler)
	} else {
		srv = httptest.NewServer(handler)
	}
	t.Cleanup(srv.Close)
	return srv
}

// sampleContent holds single-platform images, an OCI index whose amd64 image
// is not the first, a Docker manifest list without amd64, and images whose
// build time is unknown. want is what Tags must return.
func sampleContent(t *testing.T) (c *content, want []Tag) {
	t.Helper()
	c = newContent()
	at := func(day int) time.Time { return time.Date(2026, 11, day, 4, 0, 36, 0, time.UTC) }
	c.image("0.9.0", at(10).Format(time.RFC3339Nano), "amd64", false)
	c.image("0.10.10", at(11).Format(time.RFC3339Nano), "amd64", true)
	arm := c.image("", at(20).Format(time.RFC3339), "arm64", false)
	amd := c.image("", at(15).Add(123*time.Millisecond).Format(time.RFC3339Nano), "amd64", false)
	att := c.image("", at(25).Format(time.RFC3339), "unknown", false)
	c.index("multi", false, "arm64", arm, "unknown", att, "amd64", amd)
	c.image("0.10.5", at(12).In(time.FixedZone("MSK", 3*3600)).Format(time.RFC3339Nano), "amd64", false)
	armOnly := c.image("", at(13).Format(time.RFC3339), "arm64", true)
	c.index("armonly", true, "unknown", att, "arm64", armOnly)
	c.image("nodate", "", "amd64", false)
	c.image("epoch", "1970-01-01T00:00:00Z", "amd64", false)
	want = []Tag{
		{Name: "multi", Created: at(15).Add(123 * time.Millisecond), Digest: c.tags["multi"]},
		{Name: "armonly", Created: at(13), Digest: c.tags["armonly"]},
		{Name: "0.10.5", Created: at(12), Digest: c.tags["0.10.5"]},
		{Name: "0.10.10", Created: at(11), Digest: c.tags["0.10.10"]},
		{Name: "0.9.0", Created: at(10), Digest: c.tags["0.9.0"]},
		{Name: "epoch", Digest: c.tags["epoch"]},
		{Name: "nodate", Digest: c.tags["nodate"]},
	}
	return c, want
}

func TestOCITags(t *testing.T) {
	c, want := sampleContent(t)
	tests := []struct {
		name      string
		fake      fakeOCI
		image     string // path after host; default oil/app
		user      string
		password  string
		want      []Tag
		wantErr   []string
		tokenGets int32
	}{
		{name: "anonymous, Link pagination, index and manifest list", fake: fakeOCI{pageSize: 2}, want: want},
		{name: "basic auth", fake: fakeOCI{auth: "basic", pageSize: 3}, user: ociUser, password: ociPassword, want: want},
		{name: "bearer challenge with credentials", fake: fakeOCI{auth: "bearer", tokenField: "token", pageSize: 100},
			user: ociUser, password: ociPassword, want: want, tokenGets: 1},
		{name: "bearer challenge, anonymous, access_token", fake: fakeOCI{auth: "bearer", anonymous: true, tokenField: "access_token", pageSize: 4},
			want: want, tokenGets: 1},
		{name: "digest computed when the header is missing", fake: fakeOCI{pageSize: 100, omitDigest: true}, want: want},
		{name: "a tag deleted after listing is left out", fake: fakeOCI{pageSize: 100, vanished: "0.9.0"}, want: without(want, "0.9.0")},
		{name: "basic auth, wrong password", fake: fakeOCI{auth: "basic", pageSize: 2}, user: ociUser, password: "wrong-PASSWORD-99",
			wantErr: []string{"list tags of 127.0.0.1:", "/oil/app: 401 Unauthorized (UNAUTHORIZED authentication required)", `the registry rejected REGISTRY_USERNAME "bot" and REGISTRY_PASSWORD: check them`}},
		{name: "basic auth needed, none given", fake: fakeOCI{auth: "basic", pageSize: 2},
			wantErr: []string{"401 Unauthorized", "the registry requires credentials: set REGISTRY_USERNAME and REGISTRY_PASSWORD"}},
		{name: "bearer, wrong password", fake: fakeOCI{auth: "bearer", tokenField: "token", pageSize: 2}, user: ociUser, password: "wrong-PASSWORD-99",
			wantErr: []string{"get a pull token for 127.0.0.1:", "/token: 401 Unauthorized (incorrect username or password)", `the token service rejected REGISTRY_USERNAME "bot" and REGISTRY_PASSWORD: check them`}, tokenGets: 1},
		{name: "server error", fake: fakeOCI{pageSize: 2, tagsStatus: http.StatusInternalServerError},
			wantErr: []string{"/oil/app: 500 Internal Server Error (UNKNOWN storage backend down)"}},
		{name: "repository not found", fake: fakeOCI{pageSize: 2}, image: "oil/other",
			wantErr: []string{"/oil/other: 404 Not Found (NAME_UNKNOWN repository name not known to registry): check REGISTRY_IMAGE, or push an image first"}},
		{name: "Link to another host", fake: fakeOCI{pageSize: 2, foreignLink: true},
			wantErr: []string{"the registry's Link header points to another host or scheme; refusing to follow it"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := tc.fake
			fake.c = c
			srv := fake.start(t)
			image := tc.image
			if image == "" {
				image = "oil/app"
			}
			o, err := NewOCI(OCIConfig{
				Image:    strings.TrimPrefix(srv.URL, "http://") + "/" + image,
				Username: tc.user, Password: tc.password, Insecure: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := o.Tags(t.Context())
			if n := fake.tokenFetches.Load(); n != tc.tokenGets {
				t.Errorf("%d token fetches, want %d", n, tc.tokenGets)
			}
			checkTags(t, got, err, tc.want, tc.wantErr, tc.password, ociToken)
		})
	}
}

func without(tags []Tag, name string) []Tag {
	var out []Tag
	for _, t := range tags {
		if t.Name != name {
			out = append(out, t)
		}
	}
	return out
}

// TestOCITagsCachesBuildTimes checks that a second listing asks only for
// each tag's digest (tags move), and reads no manifest or config blob of a
// digest already seen: they are content-addressed.
func TestOCITagsCachesBuildTimes(t *testing.T) {
	c, want := sampleContent(t)
	fake := &fakeOCI{c: c, pageSize: 100}
	srv := fake.start(t)
	o, err := NewOCI(OCIConfig{Image: strings.TrimPrefix(srv.URL, "http://") + "/oil/app", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := o.Tags(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(want, got); diff != "" {
			t.Errorf("Tags call %d (-want +got):\n%s", i+1, diff)
		}
		if i == 0 {
			fake.blobGets.Store(0)
			fake.manifestGets.Store(0)
			fake.heads.Store(0)
		}
	}
	if b, m, h := fake.blobGets.Load(), fake.manifestGets.Load(), fake.heads.Load(); b != 0 || m != 0 || h != int32(len(want)) {
		t.Errorf("second listing: %d config blob reads, %d manifest reads, %d HEADs; want 0, 0 and %d (one per tag)", b, m, h, len(want))
	}
	// A tag moved to another image is seen at once.
	c.image("0.9.0", "2026-12-01T00:00:00Z", "amd64", false)
	got, err := o.Tags(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Name != "0.9.0" || got[0].Digest != c.tags["0.9.0"] {
		t.Errorf("after moving 0.9.0, newest is %+v, want 0.9.0 at %s", got[0], c.tags["0.9.0"])
	}
}

// TestOCITagsOneTagFails checks that a tag whose config cannot be read is
// listed all the same, without build time and last, and logged once.
func TestOCITagsOneTagFails(t *testing.T) {
	c, want := sampleContent(t)
	fake := &fakeOCI{c: c, pageSize: 100, brokenBlob: "0.10.5"}
	srv := fake.start(t)
	var logs proctest.SyncBuffer
	o, err := NewOCI(OCIConfig{Image: strings.TrimPrefix(srv.URL, "http://") + "/oil/app", Insecure: true,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var wantNames []string
	for _, tag := range want {
		if tag.Name != "0.10.5" && !tag.Created.IsZero() {
			wantNames = append(wantNames, tag.Name)
		}
	}
	wantNames = append(wantNames, "0.10.5", "epoch", "nodate") // unknown times: versions first
	for range 2 {
		got, err := o.Tags(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(wantNames, tagNames(got)); diff != "" {
			t.Errorf("Tags (-want +got):\n%s", diff)
		}
	}
	if n := strings.Count(logs.String(), "tags listed without build time"); n != 1 || !strings.Contains(logs.String(), "blob storage hiccup") {
		t.Errorf("want one log line naming the failure, got:\n%s", logs.String())
	}
}

// TestOCITagsHungRegistry checks that a registry that accepts requests and
// never answers gives an error naming it once the request timeout is over.
func TestOCITagsHungRegistry(t *testing.T) {
	c, _ := sampleContent(t)
	fake := &fakeOCI{c: c, pageSize: 100, hang: make(chan struct{})}
	srv := fake.start(t)
	t.Cleanup(func() { close(fake.hang) })
	host := strings.TrimPrefix(srv.URL, "http://")
	o, err := NewOCI(OCIConfig{Image: host + "/oil/app", Insecure: true, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = o.Tags(t.Context())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Tags took %s against a hung registry with a 300ms request timeout", took)
	}
	wantErr(t, err, "list tags of "+host+"/oil/app: ", host+" did not answer within 300ms")
}

// TestOCIRefusesPlainHTTP checks that without REGISTRY_INSECURE nothing
// goes over plain HTTP: not to the registry, not REGISTRY_PASSWORD to a
// token service.
func TestOCIRefusesPlainHTTP(t *testing.T) {
	c, _ := sampleContent(t)
	t.Run("registry", func(t *testing.T) {
		fake := &fakeOCI{c: c, pageSize: 100}
		srv := fake.start(t)
		o, _ := NewOCI(OCIConfig{Image: strings.TrimPrefix(srv.URL, "http://") + "/oil/app", Username: ociUser, Password: ociPassword})
		_, err := o.Tags(t.Context())
		wantErr(t, err, "refusing plain HTTP to 127.0.0.1:", "set REGISTRY_INSECURE=true")
	})
	t.Run("token service", func(t *testing.T) {
		fake := &fakeOCI{c: c, pageSize: 100, auth: "bearer", tokenField: "token", realm: "http://127.0.0.1:1/token"}
		fake.tls = true
		srv := fake.start(t)
		o, _ := NewOCI(OCIConfig{Image: strings.TrimPrefix(srv.URL, "https://") + "/oil/app", Username: ociUser, Password: ociPassword,
			Transport: srv.Client().Transport})
		_, err := o.Tags(t.Context())
		wantErr(t, err, `realm scheme "http" not allowed for a secure registry`)
		if fake.tokenFetches.Load() != 0 {
			t.Error("the token service was asked")
		}
	})
}

// BenchmarkOCIListing measures the registry requests of a /showcontainers
// with 3,000 tags: cold (a new bot), after REGISTRY_CACHE_TTL (digests
// known) and warm (within it).
// Rerun: go test -run '^$' -bench OCIListing -benchtime 3x ./internal/registry/
func BenchmarkOCIListing(b *testing.B) {
	c := newContent()
	for i := range 3000 {
		c.image(fmt.Sprintf("1.%d.0", i), time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339), "amd64", false)
	}
	fake := &fakeOCI{c: c, pageSize: 1000}
	srv := fake.start(b)
	cfg := OCIConfig{Image: strings.TrimPrefix(srv.URL, "http://") + "/oil/app", Insecure: true}
	list := func(b *testing.B, o *OCI) {
		if tags, err := o.Tags(b.Context()); err != nil || len(tags) != 3000 {
			b.Fatalf("%d tags, %v", len(tags), err)
		}
	}
	measure := func(b *testing.B, prepare func() *OCI) {
		var total int32
		for b.Loop() {
			b.StopTimer()
			o := prepare()
			before := fake.requests.Load()
			b.StartTimer()
			list(b, o)
			total += fake.requests.Load() - before
		}
		b.ReportMetric(float64(total)/float64(b.N), "requests/listing")
	}
	b.Run("cold", func(b *testing.B) {
		measure(b, func() *OCI { o, _ := NewOCI(cfg); return o })
	})
	b.Run("digests known", func(b *testing.B) {
		o, _ := NewOCI(cfg) // CacheTTL 0: every call lists
		list(b, o)
		measure(b, func() *OCI { return o })
	})
	b.Run("warm", func(b *testing.B) {
		warm := cfg
		warm.CacheTTL = time.Minute
		o, _ := NewOCI(warm)
		list(b, o)
		measure(b, func() *OCI { return o })
	})
}

package registrytest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// GitLabRepo is a registry repository as GitLab's REST API lists it.
type GitLabRepo struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	Location string `json:"location"`
}

// GitLab is a stand-in for what the bot's GitLab registry source calls, in GitLab's documented
// shapes: the REST list of a project's registry repositories (offset
// pagination with X-Next-Page and Link), and GraphQL's
// containerRepository(id:) { tags(first:, after:) } with GitLab's quirks:
// at most 20 nodes a page (max_page_size of ContainerRepositoryDetails.tags)
// yet a cursor past all the tags asked for with first, as GitLab.com does;
// field errors in the errors array with the tag's path; null for a
// repository it does not know; 401 {"errors":[{"message":"Invalid token"}]}.
// And the REST tag detail (GET …/registry/repositories/:id/tags/:name):
// 404 {"message":"404 Tag Not Found"} for a tag, {"message":"404 Not found"}
// for a repository it does not have.
type GitLab struct {
	Project  string             // escaped as the client sends it, e.g. oil%2Frefinery
	Repos    []GitLabRepo       // served two per page
	Tags     map[int64][]string // repository id -> tag names in the registry's order
	Created  map[string]string  // tag -> createdAt; absent: null with a field error
	Digests  map[string]string  // tag -> digest; absent: "sha256:" + tag
	Status   int                // non-zero: every request gets it
	Body     string             // with status
	Token    string             // the accepted PRIVATE-TOKEN
	Down     bool               // GraphQL: the registry behind GitLab is unreachable
	Hang     chan struct{}      // non-nil: GraphQL requests wait until it is closed
	REST     atomic.Int32       // REST requests served
	GraphQL  atomic.Int32       // GraphQL requests served
	MaxFirst atomic.Int32       // largest first asked for

	mu sync.Mutex // guards Digests once serving
}

// GitLabTagsPage is GitLab's max_page_size of ContainerRepositoryDetails.tags.
const GitLabTagsPage = 20

// Start serves f on 127.0.0.1 until the test ends.
func (f *GitLab) Start(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if f.Status != 0 {
			w.WriteHeader(f.Status)
			fmt.Fprint(w, f.Body)
			return
		}
		token := f.Token
		if r.URL.Path == "/api/graphql" {
			f.GraphQL.Add(1)
			if r.Header.Get("PRIVATE-TOKEN") != token {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"message":"Invalid token"}]}`)
				return
			}
			if f.Hang != nil {
				select {
				case <-f.Hang:
				case <-r.Context().Done():
					return
				}
			}
			f.serveGraphQL(w, r)
			return
		}
		f.REST.Add(1)
		if r.Header.Get("PRIVATE-TOKEN") != token {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"message":"401 Unauthorized"}`)
			return
		}
		prefix := "/api/v4/projects/" + f.Project + "/registry/repositories"
		if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix+"/"); ok {
			f.serveTagDetail(w, rest)
			return
		}
		if r.URL.EscapedPath() != prefix {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"404 Project Not Found"}`)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		lo, hi := min((page-1)*2, len(f.Repos)), min(page*2, len(f.Repos))
		link := func(p int) string {
			u := *r.URL
			q := u.Query()
			q.Set("page", strconv.Itoa(p))
			u.RawQuery = q.Encode()
			return "http://" + r.Host + u.String()
		}
		links := []string{fmt.Sprintf(`<%s>; rel="first"`, link(1))}
		if hi < len(f.Repos) {
			w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
			links = append([]string{fmt.Sprintf(`<%s>; rel="next"`, link(page+1))}, links...)
		} else {
			w.Header().Set("X-Next-Page", "")
		}
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("Link", strings.Join(links, ", "))
		json.NewEncoder(w).Encode(f.Repos[lo:hi])
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if f.Hang != nil {
			select {
			case <-f.Hang:
			default:
				close(f.Hang)
			}
		}
	})
	return srv
}

// Repush points tag at digest while f serves, as a push of other content
// under the same tag does.
func (f *GitLab) Repush(tag, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Digests == nil {
		f.Digests = map[string]string{}
	}
	f.Digests[tag] = digest
}

// digest is the tag's manifest digest.
func (f *GitLab) digest(tag string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.Digests[tag]; ok {
		return d
	}
	return "sha256:" + tag
}

// serveTagDetail answers GET …/registry/repositories/<id>/tags/<name> in the
// shape of GitLab's ContainerRegistry::TagDetails entity.
func (f *GitLab) serveTagDetail(w http.ResponseWriter, rest string) {
	idText, escaped, ok := strings.Cut(rest, "/tags/")
	id, err := strconv.ParseInt(idText, 10, 64)
	name, uerr := url.PathUnescape(escaped)
	i := slices.IndexFunc(f.Repos, func(r GitLabRepo) bool { return r.ID == id })
	if !ok || err != nil || uerr != nil || i < 0 {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"404 Not found"}`)
		return
	}
	if !slices.Contains(f.Tags[id], name) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"404 Tag Not Found"}`)
		return
	}
	repo := f.Repos[i]
	d := f.digest(name)
	out := map[string]any{
		"name": name, "path": repo.Path + ":" + name, "location": repo.Location + ":" + name,
		"revision": strings.TrimPrefix(d, "sha256:"), "short_revision": strings.TrimPrefix(d, "sha256:")[:min(9, len(d)-7)],
		"digest": d, "created_at": nil, "total_size": 3800,
	}
	if c, ok := f.Created[name]; ok {
		out["created_at"] = c
	}
	json.NewEncoder(w).Encode(out)
}

var gidRE = regexp.MustCompile(`^gid://gitlab/ContainerRepository/([0-9]+)$`)

func (f *GitLab) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"errors":[{"message":"Invalid request"}]}`)
		return
	}
	// The argument is a ContainerRepositoryID (GlobalIDType[ContainerRepository]), not an ID.
	for _, want := range []string{"$id: ContainerRepositoryID!", "containerRepository(id: $id)", "tags(first: $first, after: $after)",
		"nodes { name digest createdAt }", "pageInfo { endCursor hasNextPage }"} {
		if !strings.Contains(req.Query, want) {
			fmt.Fprintf(w, `{"errors":[{"message":"the stand-in does not know this query: it lacks %s"}]}`, want)
			return
		}
	}
	id, _ := req.Variables["id"].(string)
	m := gidRE.FindStringSubmatch(id)
	if m == nil {
		fmt.Fprintf(w, `{"errors":[{"message":"%q does not represent an instance of ContainerRepository","locations":[{"line":1,"column":7}]}]}`, id)
		return
	}
	repoID, _ := strconv.ParseInt(m[1], 10, 64)
	if !slices.ContainsFunc(f.Repos, func(r GitLabRepo) bool { return r.ID == repoID }) {
		fmt.Fprint(w, `{"data":{"containerRepository":null}}`)
		return
	}
	if f.Down {
		fmt.Fprint(w, `{"data":{"containerRepository":{"tags":null}},"errors":[{"message":"Can't connect to the Container Registry. If this error persists, please review the troubleshooting documentation.","locations":[{"line":3,"column":5}],"path":["containerRepository","tags"]}]}`)
		return
	}
	first := GitLabTagsPage
	if v, ok := req.Variables["first"].(float64); ok {
		first = int(v)
	}
	for {
		old := f.MaxFirst.Load()
		if int32(first) <= old || f.MaxFirst.CompareAndSwap(old, int32(first)) {
			break
		}
	}
	names := f.Tags[repoID]
	lo := 0
	if after, _ := req.Variables["after"].(string); after != "" {
		last, _ := base64.StdEncoding.DecodeString(after)
		lo = slices.Index(names, string(last)) + 1
	}
	// The registry serves first tags; GraphQL shows at most 20 of them.
	hi := min(lo+first, len(names))
	shown := names[lo:min(hi, lo+GitLabTagsPage)]
	type node struct {
		Name      string  `json:"name"`
		Digest    string  `json:"digest"`
		CreatedAt *string `json:"createdAt"`
	}
	nodes := []node{}
	var errs []map[string]any
	for i, n := range shown {
		nd := node{Name: n, Digest: f.digest(n)}
		if c, ok := f.Created[n]; ok {
			nd.CreatedAt = &c
		} else {
			errs = append(errs, map[string]any{"message": "Internal server error", "locations": []any{map[string]int{"line": 4, "column": 29}},
				"path": []any{"containerRepository", "tags", "nodes", i, "createdAt"}})
		}
		nodes = append(nodes, nd)
	}
	var end *string
	if hi < len(names) {
		c := base64.StdEncoding.EncodeToString([]byte(names[hi-1]))
		end = &c
	}
	out := map[string]any{"data": map[string]any{"containerRepository": map[string]any{"tags": map[string]any{
		"nodes": nodes, "pageInfo": map[string]any{"endCursor": end, "hasNextPage": hi < len(names)},
	}}}}
	if errs != nil {
		out["errors"] = errs
	}
	json.NewEncoder(w).Encode(out)
}

// Package registrytest runs a real OCI registry (Debian's docker-registry)
// on 127.0.0.1 for tests, and pushes small images to it with skopeo from an
// OCI layout it writes itself, so no base image is needed.
package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/derrick-kit/derrick/internal/proctest"
)

// Media types of the images Push writes.
const (
	MediaOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mediaOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mediaOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Registry is a running docker-registry with htpasswd or token auth.
type Registry struct {
	Host           string // 127.0.0.1:PORT, plain HTTP
	User, Password string
	Token          *TokenServer // with StartTokenAuth
}

// RequireTools skips t when a program is absent, or fails it when CI=true.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	proctest.RequireTools(t, names...)
}

// Start runs docker-registry on a free 127.0.0.1 port with filesystem
// storage in a temp dir and htpasswd auth; it stops in t.Cleanup.
func Start(t testing.TB) *Registry {
	t.Helper()
	return start(t, func(r *Registry, dir string) string {
		out, err := exec.Command("htpasswd", "-Bbn", r.User, r.Password).Output()
		if err != nil {
			t.Fatalf("htpasswd: %v", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, out, 0o600); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("auth:\n  htpasswd:\n    realm: derrick-test\n    path: %s\n", htpasswd)
	})
}

func start(t testing.TB, auth func(r *Registry, dir string) string) *Registry {
	t.Helper()
	RequireTools(t, "docker-registry", "skopeo", "htpasswd")
	r := &Registry{User: "derrick", Password: "registry-secret-" + fmt.Sprint(time.Now().UnixNano()%100000)}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Host = l.Addr().String()
	l.Close()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: derrick-test-secret
`, filepath.Join(dir, "data"), r.Host) + auth(r, dir)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", cfgPath)
	logs := &proctest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("docker-registry exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s not ready after 15s (last: %v)\n%s", r.Host, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Push copies the OCI layout's image named tag to repo:tag with skopeo.
func (r *Registry) Push(t testing.TB, repo, tag string, created time.Time) string {
	t.Helper()
	l := NewLayout(t)
	digest := l.Tag(tag, l.Image(repo+":"+tag, created, "amd64"))
	r.Copy(t, l, tag, repo+":"+tag)
	return digest
}

// Copy pushes the layout's image named ref to dest (repo:tag) with skopeo.
func (r *Registry) Copy(t testing.TB, l *Layout, ref, dest string) {
	t.Helper()
	// A policy of its own: a fresh machine may have no /etc/containers/policy.json.
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("skopeo", "--policy", policy, "copy", "--all", "--preserve-digests",
		"--dest-tls-verify=false", "--dest-creds", r.User+":"+r.Password,
		"oci:"+l.Dir+":"+ref, "docker://"+r.Host+"/"+dest)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy %s: %v\n%s", dest, err, out)
	}
}

// Layout writes an OCI image layout and names its images by tag.
type Layout struct {
	t    testing.TB
	Dir  string
	refs []map[string]any
}

// NewLayout starts an empty OCI layout in a temp dir.
func NewLayout(t testing.TB) *Layout {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Layout{t: t, Dir: dir}
}

// Blob stores b and returns its descriptor.
func (l *Layout) Blob(mediaType string, b []byte) map[string]any {
	d := Digest(b)
	if err := os.WriteFile(filepath.Join(l.Dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
}

// JSONBlob stores v as JSON and returns its descriptor.
func (l *Layout) JSONBlob(mediaType string, v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.Blob(mediaType, b)
}

// Image stores a one-layer image (a file /version holding content) built at
// created for arch, and returns its manifest descriptor.
func (l *Layout) Image(content string, created time.Time, arch string) map[string]any {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	if err := tw.WriteHeader(&tar.Header{Name: "version", Mode: 0o644, Size: int64(len(content)), ModTime: created}); err != nil {
		l.t.Fatal(err)
	}
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(tarBuf.Bytes())
	_ = zw.Close()
	layer := l.Blob(mediaOCILayer, gz.Bytes())
	config := l.JSONBlob(mediaOCIConfig, map[string]any{
		"created": created.Format(time.RFC3339), "architecture": arch, "os": "linux",
		"config": map[string]any{"Cmd": []string{"/version"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{Digest(tarBuf.Bytes())}},
	})
	m := l.JSONBlob(MediaOCIManifest, map[string]any{
		"schemaVersion": 2, "mediaType": MediaOCIManifest, "config": config, "layers": []any{layer},
	})
	m["platform"] = map[string]string{"architecture": arch, "os": "linux"}
	return m
}

// Index stores an image index of the manifests and returns its descriptor.
func (l *Layout) Index(manifests ...map[string]any) map[string]any {
	return l.JSONBlob(MediaOCIIndex, map[string]any{"schemaVersion": 2, "mediaType": MediaOCIIndex, "manifests": manifests})
}

// Tag names a descriptor in index.json and returns its digest.
func (l *Layout) Tag(name string, desc map[string]any) string {
	ref := map[string]any{}
	for k, v := range desc {
		ref[k] = v
	}
	ref["annotations"] = map[string]string{"org.opencontainers.image.ref.name": name}
	l.refs = append(l.refs, ref)
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": l.refs})
	if err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Dir, "index.json"), b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return desc["digest"].(string)
}

// Digest is the sha256 digest of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

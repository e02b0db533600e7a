package registrytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Names in the tokens of StartTokenAuth.
const (
	TokenService = "derrick-test-registry"
	tokenIssuer  = "derrick-test-token-issuer"
)

// TokenServer is a Docker registry token service: it hands out JWTs that
// docker-registry's `auth: token` accepts, signed with an ECDSA key whose
// self-signed certificate (made here) is the registry's rootcertbundle.
type TokenServer struct {
	// URL is the realm, http://localhost:PORT/token: a host name, as
	// go-containerregistry refuses realms at loopback or private IP literals
	// other than the registry's own host:port.
	URL      string
	Requests atomic.Int32 // token requests served, refused ones included

	user, password string
	key            *ecdsa.PrivateKey
	certDER        []byte
}

// StartTokenAuth runs docker-registry like Start, but with token auth: the
// registry sends clients to a token service (Registry.Token) that checks
// User and Password with Basic auth and grants the actions asked for.
func StartTokenAuth(t testing.TB) *Registry {
	t.Helper()
	return start(t, func(r *Registry, dir string) string {
		ts := newTokenServer(t, r.User, r.Password)
		r.Token = ts
		bundle := filepath.Join(dir, "token-signer.pem")
		if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.certDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			ts.URL, TokenService, tokenIssuer, bundle)
	})
}

func newTokenServer(t testing.TB, user, password string) *TokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "derrick test token signer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &TokenServer{user: user, password: password, key: key, certDER: der}
	srv := httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(srv.Close)
	ts.URL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/token"
	return ts
}

// serve answers GET /token?service=…&scope=repository:NAME:ACTIONS… as
// docker's token services do: 401 {"details":…} for wrong credentials, else
// {"token":…,"access_token":…,"expires_in":…,"issued_at":…}.
func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.Requests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	q := r.URL.Query()
	if r.URL.Path != "/token" || q.Get("service") != TokenService {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"details":"unknown service"}`)
		return
	}
	sub := ""
	if u, p, ok := r.BasicAuth(); ok {
		if u != ts.user || p != ts.password {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"details":"incorrect username or password"}`)
			return
		}
		sub = u
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	granted := []access{}
	for _, scope := range q["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) != 3 || parts[0] != "repository" || sub == "" { // anonymous: nothing
			continue
		}
		granted = append(granted, access{Type: "repository", Name: parts[1], Actions: strings.Split(parts[2], ",")})
	}
	now := time.Now()
	token, err := ts.sign(map[string]any{
		"iss": tokenIssuer, "sub": sub, "aud": TokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprint(now.UnixNano()), "access": granted,
	})
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"details":%q}`, err.Error())
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 300,
		"issued_at": now.UTC().Format(time.RFC3339)})
}

// sign makes an ES256 JWT whose header carries the signer's certificate.
func (ts *TokenServer) sign(claims map[string]any) (string, error) {
	enc := base64.RawURLEncoding
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256",
		"x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}

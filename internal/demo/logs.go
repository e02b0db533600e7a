package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"gitlab.com/derrick-kit/derrick/internal/imageref"
)

var (
	parameterCodec = scheme.ParameterCodec
	podsResource   = corev1.SchemeGroupVersion.WithResource("pods")
)

// maxLogSlots bounds how far back a log without tailLines reaches: about
// three hours of lines.
const maxLogSlots = 10_000

// logClient is a REST client for the core API whose transport answers only
// GET .../pods/NAME/log, from the pods of the fake clientset: what the real
// kubelet would stream, generated from the pod's name, image and start.
func (c *Cluster) logClient() (*rest.RESTClient, error) {
	gv := corev1.SchemeGroupVersion
	rc, err := rest.NewRESTClient(&url.URL{Scheme: "http", Host: "simulated-cluster.invalid"}, "/api/v1",
		rest.ClientContentConfig{
			GroupVersion: gv,
			Negotiator:   runtime.NewClientNegotiator(scheme.Codecs.WithoutConversion(), gv),
		}, nil, &http.Client{Transport: roundTripper(c.serveLogs)})
	if err != nil {
		return nil, fmt.Errorf("log client of the simulated cluster: %w", err)
	}
	return rc, nil
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *Cluster) serveLogs(r *http.Request) (*http.Response, error) {
	// /api/v1/namespaces/NS/pods/NAME/log
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(parts) != 7 || parts[2] != "namespaces" || parts[4] != "pods" || parts[6] != "log" {
		return statusResponse(apierrors.NewNotFound(podsResource.GroupResource(), r.URL.Path)), nil
	}
	ns, name := parts[3], parts[5]
	q := r.URL.Query()
	obj, err := c.fake.Tracker().Get(podsResource, ns, name, metav1.GetOptions{})
	if err != nil {
		return statusResponse(apierrors.NewNotFound(podsResource.GroupResource(), name)), nil
	}
	p := obj.(*corev1.Pod)
	if ct := q.Get("container"); ct != "" && !slices.ContainsFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == ct }) {
		return statusResponse(apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", ct, name))), nil
	}
	if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
		reason := "ContainerCreating"
		if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Waiting != nil {
			reason = p.Status.ContainerStatuses[0].State.Waiting.Reason
		}
		return statusResponse(apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", Container, name, reason))), nil
	}
	tail := -1
	if v := q.Get("tailLines"); v != "" {
		if tail, err = strconv.Atoi(v); err != nil || tail < 0 {
			return statusResponse(apierrors.NewBadRequest("tailLines must be a non-negative integer")), nil
		}
	}
	var b bytes.Buffer
	for _, l := range podLog(p, time.Now(), tail) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	body := b.Bytes()
	if v := q.Get("limitBytes"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n < len(body) {
			body = body[:n]
		}
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Request: r,
		Header: http.Header{"Content-Type": {"text/plain"}},
		Body:   io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}, nil
}

func statusResponse(err *apierrors.StatusError) *http.Response {
	st := err.ErrStatus
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	body, _ := json.Marshal(st)
	return &http.Response{
		StatusCode: int(st.Code), Status: fmt.Sprintf("%d %s", st.Code, http.StatusText(int(st.Code))),
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
	}
}

// podLog returns the last tail lines (all when tail < 0) that the
// application in p has written by now: a gunicorn start, then about one
// line a second (probes, API calls, telemetry), and a shutdown when the
// pod is terminating. The same pod and instant always give the same lines.
func podLog(p *corev1.Pod, now time.Time, tail int) []string {
	cs := p.Status.ContainerStatuses
	if len(cs) == 0 || cs[0].State.Running == nil {
		return nil
	}
	start := cs[0].State.Running.StartedAt.Time
	// The tag, also of an image /deploy pinned by digest.
	_, version, _ := imageref.Split(p.Spec.Containers[0].Image)
	seed := fnv32(p.Name)
	end := now
	var shutdown []string
	if p.DeletionTimestamp != nil && p.DeletionTimestamp.Time.Before(now) {
		end = p.DeletionTimestamp.Time
		for i, l := range shutdownLines {
			shutdown = append(shutdown, logLine(end.Add(time.Duration(i*40)*time.Millisecond), l[0], l[1], l[2]))
		}
	}
	if tail < 0 {
		tail = maxLogSlots
	}
	out := make([]string, 0, min(tail, 64))
	for i := len(shutdown) - 1; i >= 0 && len(out) < tail; i-- {
		out = append(out, shutdown[i])
	}
	last := int(end.Sub(start) / time.Second)
	for k := last; k >= 1 && k > last-maxLogSlots && len(out) < tail; k-- {
		h := mix(seed, uint32(k))
		if h%5 == 0 { // a quiet second
			continue
		}
		at := start.Add(time.Duration(k)*time.Second + time.Duration(h%1000)*time.Millisecond)
		if at.After(end) {
			continue
		}
		level, logger, msg := event(h, mix(h, seed))
		out = append(out, logLine(at, level, logger, msg))
	}
	if last < maxLogSlots {
		startup := startupLines(version)
		for i := len(startup) - 1; i >= 0 && len(out) < tail; i-- {
			at := start.Add(time.Duration(i*120) * time.Millisecond)
			if !at.After(end) {
				out = append(out, logLine(at, startup[i][0], startup[i][1], startup[i][2]))
			}
		}
	}
	slices.Reverse(out)
	return out
}

func logLine(at time.Time, level, logger, msg string) string {
	at = at.UTC()
	return fmt.Sprintf("%s,%03d %-7s %s: %s", at.Format("2006-01-02 15:04:05"), at.Nanosecond()/1e6, level, logger, msg)
}

func startupLines(version string) [][3]string {
	return [][3]string{
		{"INFO", "gunicorn.error", "Starting gunicorn 23.0.0"},
		{"INFO", "gunicorn.error", "Listening at: http://0.0.0.0:8000 (1)"},
		{"INFO", "gunicorn.error", "Using worker: uvicorn.workers.UvicornWorker"},
		{"INFO", "gunicorn.error", "Booting worker with pid: 7"},
		{"INFO", "uvicorn.error", "Started server process [7]"},
		{"INFO", "uvicorn.error", "Application startup complete."},
		{"INFO", "refinery.app", "oil-refinery-application " + version + " ready: 4 units, 12 tanks"},
	}
}

var shutdownLines = [][3]string{
	{"INFO", "gunicorn.error", "Handling signal: term"},
	{"INFO", "uvicorn.error", "Shutting down"},
	{"INFO", "uvicorn.error", "Finished server process [7]"},
	{"INFO", "gunicorn.error", "Worker exiting (pid: 7)"},
	{"INFO", "gunicorn.error", "Shutting down: Master"},
}

var (
	tanks = []string{"T-101", "T-104", "T-207", "T-212", "T-305", "T-311"}
	units = []string{"cdu-1", "vdu-1", "fcc-2", "reformer-1"}
)

// event is one ordinary line: level, logger and message, chosen by h and
// filled in from v.
func event(h, v uint32) (level, logger, msg string) {
	pct := func(lo, span uint32) string { return fmt.Sprintf("%d.%d", lo+v%span, v/7%10) }
	switch h / 7 % 20 {
	case 0, 1, 2, 3, 4, 5, 6, 7:
		return "INFO", "uvicorn.access", fmt.Sprintf(`10.244.%d.1:%d - "GET /health HTTP/1.1" 200`, 1+v%3, 32768+v%28000)
	case 8, 9, 10:
		return "INFO", "refinery.telemetry", fmt.Sprintf("tank %s level=%s%% temp=%s°C p=%d.%02dbar",
			tanks[v%uint32(len(tanks))], pct(40, 50), pct(30, 15), 1+v%3, v/11%100)
	case 11, 12:
		return "INFO", "uvicorn.access", fmt.Sprintf(`10.244.%d.%d:%d - "GET /api/v1/units/%s/throughput HTTP/1.1" 200`,
			1+v%3, 20+v%40, 40000+v%20000, units[v%uint32(len(units))])
	case 13:
		return "INFO", "refinery.batch", fmt.Sprintf("batch %d in=%d.%dbbl gasoline=%s%% diesel=%s%%", 48000+v%900, 1200+v%600, v%10, pct(42, 8), pct(24, 6))
	case 14:
		return "INFO", "uvicorn.access", fmt.Sprintf(`10.244.%d.%d:%d - "POST /api/v1/orders HTTP/1.1" 201`, 1+v%3, 20+v%40, 40000+v%20000)
	case 15:
		return "INFO", "refinery.orders", fmt.Sprintf("order ORD-%d accepted: %d bbl to terminal %c", 11000+v%900, 500+v%4500, 'A'+rune(v%4))
	case 16:
		return "INFO", "refinery.scheduler", fmt.Sprintf("blend plan B-%d recalculated in %dms", 2200+v%100, 120+v%300)
	case 17:
		return "WARNING", "refinery.telemetry", fmt.Sprintf("tank %s temp %d.%d°C above soft limit 80.0°C", tanks[v%uint32(len(tanks))], 80+v%3, v%10)
	case 18:
		if v%4 == 0 {
			return "ERROR", "refinery.sensors", fmt.Sprintf("sensor PT-%d read timeout after 2.0s, retry 1/3", 300+v%40)
		}
		return "INFO", "refinery.sensors", fmt.Sprintf("sensor PT-%d recalibrated, drift %d.%02d%%", 300+v%40, v%2, v/3%100)
	default:
		return "INFO", "uvicorn.access", fmt.Sprintf(`10.244.%d.%d:%d - "GET /api/v1/tanks?site=north HTTP/1.1" 200`, 1+v%3, 20+v%40, 40000+v%20000)
	}
}

// mix hashes two numbers into one, well spread.
func mix(a, b uint32) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte{byte(a), byte(a >> 8), byte(a >> 16), byte(a >> 24), byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
	return h.Sum32()
}

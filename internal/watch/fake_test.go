package watch

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
)

// fakeConfigMaps is one ConfigMap in memory, with the API server's
// optimistic concurrency: an update must carry the current resourceVersion.
type fakeConfigMaps struct {
	mu        sync.Mutex
	cm        configMap // nil: it does not exist
	version   int
	conflicts int      // the next updates to answer 409
	verbs     []string // every request
}

func newFakeConfigMaps(name string) *fakeConfigMaps {
	return &fakeConfigMaps{cm: configMap{"metadata": map[string]any{"name": name, "resourceVersion": "1"}}, version: 1}
}

func clone(cm configMap) configMap {
	raw, _ := json.Marshal(cm)
	var out configMap
	_ = json.Unmarshal(raw, &out)
	return out
}

func (f *fakeConfigMaps) get(context.Context) (configMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verbs = append(f.verbs, "get")
	if f.cm == nil {
		return nil, &apiStatus{Code: http.StatusNotFound, Reason: "NotFound"}
	}
	return clone(f.cm), nil
}

func (f *fakeConfigMaps) update(_ context.Context, cm configMap) (configMap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verbs = append(f.verbs, "update")
	if f.cm == nil {
		return nil, &apiStatus{Code: http.StatusNotFound, Reason: "NotFound"}
	}
	rv := cm["metadata"].(map[string]any)["resourceVersion"]
	if f.conflicts > 0 || rv != strconv.Itoa(f.version) {
		f.conflicts = max(0, f.conflicts-1)
		return nil, &apiStatus{Code: http.StatusConflict, Reason: "Conflict", Message: "the object has been modified"}
	}
	f.version++
	f.cm = clone(cm)
	f.cm["metadata"].(map[string]any)["resourceVersion"] = strconv.Itoa(f.version)
	return clone(f.cm), nil
}

// write changes the state key behind the store's back (another writer).
func (f *fakeConfigMaps) write(raw string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	f.cm = f.cm.withData(stateKey, raw)
	f.cm["metadata"].(map[string]any)["resourceVersion"] = strconv.Itoa(f.version)
}

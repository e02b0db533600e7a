package argocdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The application in the git repository the harness serves.
const (
	// AppName is the Application and the Deployment it manages.
	AppName = "oil-refinery-application"
	// AppImage is the image of the Deployment in the repository.
	AppImage = "registry.example.com/oil/app:0.10.4"
	// AppReplicas is the Deployment's replicas in the repository.
	AppReplicas = 2
	// AppContainer is the Deployment's only container.
	AppContainer = "app"
	// Namespace is the application's destination namespace.
	Namespace = "oil"
	// ArgoNamespace holds Argo CD's ConfigMaps, Secret and Applications.
	ArgoNamespace = "argocd"
	// Project is the AppProject of the application.
	Project = "default"
)

// AppLabels are the labels of the Deployment and its pods (the same as
// clustertest.AppSelector, so clustertest's helpers find them).
var AppLabels = map[string]string{"app.kubernetes.io/name": AppName}

// repoFiles is the kustomize application at the root of the repository.
func repoFiles() map[string]string {
	return map[string]string{
		"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
`,
		"deployment.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels:
    app.kubernetes.io/name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels:
      app.kubernetes.io/name: %[1]s
  template:
    metadata:
      labels:
        app.kubernetes.io/name: %[1]s
    spec:
      terminationGracePeriodSeconds: 0
      containers:
        - name: %[3]s
          image: %[4]s
          ports:
            - containerPort: 8080
          resources:
            requests:
              cpu: 10m
              memory: 32Mi
`, AppName, AppReplicas, AppContainer, AppImage),
		"service.yaml": fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  labels:
    app.kubernetes.io/name: %[1]s
spec:
  selector:
    app.kubernetes.io/name: %[1]s
  ports:
    - port: 80
      targetPort: 8080
`, AppName),
	}
}

// makeRepo writes the application into a fresh repository, commits it and
// clones it bare to gitDir/oil.git, for git daemon to serve.
func makeRepo(dir, gitDir string) error {
	work := filepath.Join(dir, "oil-work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	for name, content := range repoFiles() {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	env := []string{
		"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=derrick", "GIT_AUTHOR_EMAIL=derrick@example.com",
		"GIT_COMMITTER_NAME=derrick", "GIT_COMMITTER_EMAIL=derrick@example.com",
	}
	for _, args := range [][]string{
		{"-C", work, "init", "-q", "-b", "main"},
		{"-C", work, "add", "-A"},
		{"-C", work, "commit", "-q", "-m", "oil-refinery-application " + AppImage},
		{"clone", "-q", "--bare", work, filepath.Join(gitDir, "oil.git")},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// Package pipeline holds the acceptance tests of Derrick's GitLab CI/CD components
// (templates/) and of the example application that includes them
// (examples/oil-refinery-application/).
//
// The tests run real tools on this machine, as hack/install-deps.sh installs them:
// gitlab-ci-local runs the example's .gitlab-ci.yml with the shell executor in a
// throwaway git repository, with every `include: component:` resolved from this
// repository's templates/; Debian's pylint lints, buildah builds the unchanged
// Containerfile from an offline stand-in of its Alpine base image
// (hack/pipeline/base-image.sh), podman runs the candidate for the health probe,
// skopeo publishes it to a real docker-registry on 127.0.0.1 with htpasswd auth, and
// the notifier posts to the internal/telegramtest emulator.
//
// The tests skip when a tool is missing, except under CI=true, where a missing tool
// fails them. There is no non-test code here.
package pipeline

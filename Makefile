# Derrick — the two commands of the README's quick start are `make run` and
# `make test`. Every target installs what it needs, so both work on a fresh
# Debian 12 machine.
SHELL := /usr/bin/env bash
GO ?= go

.PHONY: run demo notify-dry-run test deps k8s-tools helm-tools argocd-tools vet fmt-check images bench fuzz

# The main job: the bot's demo — the production bot on an in-process Telegram
# and a simulated cluster, with a chat page on http://127.0.0.1:8080.
run: demo

demo:
	$(GO) run ./bot -demo

# What a pipeline's notifier would post, without sending it.
notify-dry-run:
	CI_PIPELINE_ID=4242 CI_PIPELINE_CREATED_AT=$$(date -u +%Y-%m-%dT%H:%M:%SZ) CI_COMMIT_REF_NAME=0.10.5 \
		$(GO) run ./notifier --dry-run created

# Everything CI runs: static checks and every test, real servers included.
test: deps k8s-tools helm-tools argocd-tools fmt-check vet
	$(GO) test -count=1 -timeout 40m ./...

deps:
	bash hack/install-deps.sh

k8s-tools:
	bash hack/k8s/build-tools.sh

helm-tools:
	bash hack/helm/build.sh

argocd-tools:
	bash hack/argocd/build.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

images: deps
	bash hack/image.sh notifier
	bash hack/image.sh bot

bench: deps k8s-tools helm-tools
	$(GO) test -run '^$$' -bench . -benchtime 20x ./notifier/ ./bot/
	$(GO) test -run '^$$' -bench Scale -benchtime 5x ./test/chart/
	$(GO) test -run '^$$' -bench 'GitLabListing|OCIListing' -benchtime 3x ./internal/registry/

fuzz:
	for f in FuzzSplit FuzzSplitHTML FuzzEscapeHTML; do \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime 30s ./internal/telegram/ || exit 1; done

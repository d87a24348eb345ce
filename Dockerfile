# The provider's image: the static binary, CA certificates and labels, nothing else (no shell,
# no package manager). Multi-arch: the build stage runs on the build machine's platform and
# cross-compiles for each target.
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v0.1.0 -t IMAGE .
#   make image      # the same file with buildah, no Docker engine or registry (dev/image/build.sh)
#
# The RUN steps use the exec form and take their settings from ENV, so the build stage needs no
# shell: any image with a Go toolchain on PATH works as GO_IMAGE (make image makes one from the
# Go release the project builds with). The binary is built by Go GO_VERSION, the release of
# go.mod's toolchain line, with no known vulnerability in the standard library it calls (make
# vulncheck): an image with another Go fetches that release first (GOTOOLCHAIN).
ARG GO_VERSION=1.27.3
ARG GO_IMAGE=golang:${GO_VERSION}

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG GO_VERSION
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=go${GO_VERSION} GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod ["go", "mod", "download"]
COPY . .
# -buildvcs=false: .git is not in the build context; the version comes from VERSION.
ENV GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    GOFLAGS="-trimpath -buildvcs=false '-ldflags=-s -w -X=main.version=${VERSION}'"
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    ["go", "build", "-o", "/out/pmp-secrets-provider", "."]

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
# TLS to AWS endpoints (regional, VPC and FIPS): Go reads this bundle.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/pmp-secrets-provider /pmp-secrets-provider
# Non-root by default. The driver's socket directory on a node is root-owned 0755, so the
# chart runs the container as uid 0 with every capability dropped unless that directory is
# made writable for this uid: see charts/pmp-secrets-provider/README.md, "Why uid 0 (and how to run non-root)".
USER 65532:65532
ENTRYPOINT ["/pmp-secrets-provider"]
LABEL org.opencontainers.image.title="pmp-secrets-provider" \
      org.opencontainers.image.description="Secrets Store CSI Driver provider: Private Mendix Platform credentials from AWS Secrets Manager, one file per credential" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

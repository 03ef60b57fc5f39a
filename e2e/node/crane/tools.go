//go:build tools

// Wrapper module pinning go-containerregistry's crane: it pushes the OCI layout built by
// e2e/build-image.sh, validates it, and serves the loopback registry (`crane registry serve`).
package tools

import _ "github.com/google/go-containerregistry/cmd/crane"

//go:build tools

// Pins cosign (signs the release image and its SBOM; `cosign verify` in e2e/helm-e2e.sh).
package cosign

import _ "github.com/sigstore/cosign/v2/cmd/cosign"

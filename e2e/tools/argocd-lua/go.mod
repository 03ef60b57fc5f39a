module applink-operator/e2e/tools/argocd-lua

go 1.24

require (
	github.com/yuin/gopher-lua v1.1.1
	sigs.k8s.io/yaml v1.4.0
)

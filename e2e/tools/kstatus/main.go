// Command kstatus prints what sigs.k8s.io/cli-utils' kstatus (the library Flux, kpt and
// `kubectl wait`-like tools use) computes for Kubernetes objects: one JSON line per object,
// {"kind","name","status","message"}. Input on stdin: one JSON object or a List of them (as
// `kubectl get -o json` or the API server returns them). No cluster access of its own.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type line struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var obj unstructured.Unstructured
	if err := obj.UnmarshalJSON(data); err != nil {
		fail("stdin is not a Kubernetes object in JSON: %v", err)
	}
	items := []unstructured.Unstructured{obj}
	if obj.IsList() {
		list, err := obj.ToList()
		if err != nil {
			fail("reading the list: %v", err)
		}
		items = list.Items
	}
	out := json.NewEncoder(os.Stdout)
	for i := range items {
		res, err := status.Compute(&items[i])
		if err != nil {
			fail("kstatus of %s %s: %v", items[i].GetKind(), items[i].GetName(), err)
		}
		_ = out.Encode(line{items[i].GetKind(), items[i].GetName(), res.Status.String(), res.Message})
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}

// Command argocd-lua runs Argo CD resource customizations (health checks and resource actions,
// laid out as in argo-cd's resource_customizations/<group>/<kind>/) on gopher-lua, the engine
// Argo CD embeds, with the libraries Argo CD gives such scripts (package, base, table and an os
// with only time and date), and checks them against their tests: health_test.yaml
// (tests: [{inputPath, healthStatus: {status, message}}]) and actions/action_test.yaml
// (discoveryTests: [{inputPath, result: [{name, disabled}]}], actionTests: [{action, inputPath,
// expectedOutputPath}]). The clock the scripts see is fixed (FixedNow), so action outputs are
// reproducible. Usage: argocd-lua DIR (the resource_customizations directory). Prints one line
// per test and "N passed, N failed"; exits 1 when any failed.
// `argocd-lua health SCRIPT` runs one health.lua on the object (JSON) on stdin instead, as Argo
// CD would on a live object, and prints {"status","message"}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// FixedNow is the time os.time and os.date report to the scripts under test.
var FixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type healthTests struct {
	Tests []struct {
		InputPath    string `json:"inputPath"`
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
	} `json:"tests"`
}

type actionTests struct {
	DiscoveryTests []struct {
		InputPath string `json:"inputPath"`
		Result    []struct {
			Name     string `json:"name"`
			Disabled bool   `json:"disabled"`
		} `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

var passed, failed int

func check(name string, err error) {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	passed++
	fmt.Printf("ok   %s\n", name)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "health" {
		healthOfStdin(os.Args[2])
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-lua DIR (a resource_customizations directory)")
		os.Exit(2)
	}
	root := os.Args[1]
	kinds, err := filepath.Glob(filepath.Join(root, "*", "*"))
	if err != nil || len(kinds) == 0 {
		fmt.Fprintf(os.Stderr, "argocd-lua: no <group>/<kind> directories under %s\n", root)
		os.Exit(2)
	}
	sort.Strings(kinds)
	for _, dir := range kinds {
		rel, _ := filepath.Rel(root, dir)
		runHealth(rel, dir)
		runActions(rel, dir)
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
}

func runHealth(rel, dir string) {
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		check(rel+" health.lua", err)
		return
	}
	var tests healthTests
	if err := readYAML(filepath.Join(dir, "health_test.yaml"), &tests); err != nil {
		check(rel+" health_test.yaml", err)
		return
	}
	if len(tests.Tests) == 0 {
		check(rel+" health_test.yaml", fmt.Errorf("no tests"))
	}
	for _, t := range tests.Tests {
		name := fmt.Sprintf("%s health %s", rel, t.InputPath)
		obj, err := readObject(filepath.Join(dir, t.InputPath))
		if err != nil {
			check(name, err)
			continue
		}
		got, err := run(string(script), obj)
		if err != nil {
			check(name, err)
			continue
		}
		m, ok := got.(map[string]any)
		if !ok {
			check(name, fmt.Errorf("health.lua returned %T, not a table", got))
			continue
		}
		status, _ := m["status"].(string)
		message, _ := m["message"].(string)
		if status != t.HealthStatus.Status || message != t.HealthStatus.Message {
			check(name, fmt.Errorf("got %q %q, want %q %q", status, message, t.HealthStatus.Status, t.HealthStatus.Message))
			continue
		}
		check(name, nil)
	}
}

func runActions(rel, dir string) {
	testFile := filepath.Join(dir, "actions", "action_test.yaml")
	if _, err := os.Stat(testFile); err != nil {
		return
	}
	var tests actionTests
	if err := readYAML(testFile, &tests); err != nil {
		check(rel+" action_test.yaml", err)
		return
	}
	discovery, err := os.ReadFile(filepath.Join(dir, "actions", "discovery.lua"))
	if err != nil {
		check(rel+" discovery.lua", err)
		return
	}
	for _, t := range tests.DiscoveryTests {
		name := fmt.Sprintf("%s discovery %s", rel, t.InputPath)
		obj, err := readObject(filepath.Join(dir, "actions", t.InputPath))
		if err != nil {
			check(name, err)
			continue
		}
		got, err := run(string(discovery), obj)
		if err != nil {
			check(name, err)
			continue
		}
		actions, _ := got.(map[string]any)
		var names []string
		for n, v := range actions {
			a, _ := v.(map[string]any)
			disabled, _ := a["disabled"].(bool)
			names = append(names, fmt.Sprintf("%s disabled=%v", n, disabled))
		}
		var want []string
		for _, r := range t.Result {
			want = append(want, fmt.Sprintf("%s disabled=%v", r.Name, r.Disabled))
		}
		sort.Strings(names)
		sort.Strings(want)
		if !reflect.DeepEqual(names, want) {
			check(name, fmt.Errorf("got %v, want %v", names, want))
			continue
		}
		check(name, nil)
	}
	for _, t := range tests.ActionTests {
		name := fmt.Sprintf("%s action %s %s", rel, t.Action, t.InputPath)
		script, err := os.ReadFile(filepath.Join(dir, "actions", t.Action, "action.lua"))
		if err != nil {
			check(name, err)
			continue
		}
		obj, err := readObject(filepath.Join(dir, "actions", t.InputPath))
		if err != nil {
			check(name, err)
			continue
		}
		want, err := readObject(filepath.Join(dir, "actions", t.ExpectedOutputPath))
		if err != nil {
			check(name, err)
			continue
		}
		got, err := run(string(script), obj)
		if err != nil {
			check(name, err)
			continue
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			g, _ := yaml.Marshal(got)
			check(name, fmt.Errorf("output differs from %s; got:\n%s", t.ExpectedOutputPath, g))
			continue
		}
		check(name, nil)
	}
}

func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(data, into)
}

func readObject(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

// run executes script with the global `obj` set, as Argo CD does, and returns its result.
func run(script string, obj map[string]any) (any, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	return fromLua(l.Get(-1)), nil
}

func openSafeOs(l *lua.LState) int {
	mod := l.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{
		"time": func(l *lua.LState) int { l.Push(lua.LNumber(FixedNow.Unix())); return 1 },
		"date": osDate,
	})
	l.Push(mod)
	return 1
}

// osDate: the strftime subset action scripts use to write timestamps ("!" for UTC).
func osDate(l *lua.LState) int {
	format := l.OptString(1, "%c")
	t := FixedNow.Local()
	if strings.HasPrefix(format, "!") {
		format = format[1:]
		t = FixedNow.UTC()
	}
	r := strings.NewReplacer("%Y", t.Format("2006"), "%m", t.Format("01"), "%d", t.Format("02"),
		"%H", t.Format("15"), "%M", t.Format("04"), "%S", t.Format("05"), "%X", t.Format("15:04:05"),
		"%c", t.Format(time.ANSIC), "%%", "%")
	l.Push(lua.LString(r.Replace(format)))
	return 1
}

func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range v {
			t.Append(toLua(l, e))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(v))
	}
}

func fromLua(v lua.LValue) any {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil
	case lua.LBool:
		return bool(v)
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case *lua.LTable:
		if n := v.MaxN(); n > 0 {
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				out = append(out, fromLua(v.RawGetInt(i)))
			}
			return out
		}
		out := map[string]any{}
		v.ForEach(func(k, e lua.LValue) { out[k.String()] = fromLua(e) })
		return out
	default:
		return v.String()
	}
}

// normalize makes numbers comparable whatever their Go type after decoding.
func normalize(v any) any {
	data, _ := yaml.Marshal(v)
	var out any
	_ = yaml.Unmarshal(data, &out)
	return out
}

func healthOfStdin(scriptPath string) {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd-lua: %v\n", err)
		os.Exit(2)
	}
	data, err := io.ReadAll(os.Stdin)
	var obj map[string]any
	if err == nil {
		err = json.Unmarshal(data, &obj)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd-lua: stdin is not a JSON object: %v\n", err)
		os.Exit(2)
	}
	got, err := run(string(script), obj)
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd-lua: %s: %v\n", scriptPath, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(got)
	fmt.Println(string(out))
}

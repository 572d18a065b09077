package v1

// The Go types are compared with this repository's CRDs (src/dask_kubernetes/operator/crds), the
// source of truth, field by field and in both directions, so the two cannot drift apart:
//
//   - every property a CRD lists must be a Go field with the same JSON name and a compatible type,
//     and a property the CRD requires must not be `omitempty` in Go (the field would be dropped);
//   - every field of a type of this package must be a property of the CRD, unless the CRD keeps
//     that object opaque (x-kubernetes-preserve-unknown-fields with no properties listed).
//
// Types from other packages (corev1.PodSpec, metav1.ObjectMeta, metav1.Condition) are only
// checked against the properties the CRD lists: a CRD keeps those objects whole.

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// schema is the part of a CRD's openAPIV3Schema the comparison reads.
type crdSchema struct {
	Type                 string                `json:"type"`
	Format               string                `json:"format"`
	Properties           map[string]*crdSchema `json:"properties"`
	Required             []string              `json:"required"`
	Items                *crdSchema            `json:"items"`
	AdditionalProperties *crdSchema            `json:"additionalProperties"`
	PreserveUnknown      bool                  `json:"x-kubernetes-preserve-unknown-fields"`
}

type crd struct {
	Spec struct {
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema *crdSchema `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// goOnlyFields are Go fields a CRD does not list, each with the reason it may stay.
var goOnlyFields = map[string]string{
	// Upstream's Go API has DaskJobSpec.Cluster as a whole DaskCluster; the CRD keeps
	// spec.cluster open and the operator reads only its metadata and spec.
	"DaskJob.spec.cluster.status": "DaskJobSpec.Cluster is a whole DaskCluster, as upstream's",
}

// crdDir is the repository's CRD directory: $DASK_CRD_DIR, or found from this package's place.
func crdDir(t *testing.T) string {
	if dir := os.Getenv("DASK_CRD_DIR"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// go/dask_kubernetes/operator/go_client/pkg/apis/kubernetes.dask.org/v1 -> repository root
	root := filepath.Join(wd, "..", "..", "..", "..", "..", "..", "..", "..")
	return filepath.Join(root, "src", "dask_kubernetes", "operator", "crds")
}

func loadSchemas(t *testing.T) map[string]*crdSchema {
	paths, err := filepath.Glob(filepath.Join(crdDir(t), "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no CRDs found in %s (set DASK_CRD_DIR): %v", crdDir(t), err)
	}
	found := map[string]*crdSchema{}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc crd
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, version := range doc.Spec.Versions {
			if version.Name == Version {
				found[doc.Spec.Names.Kind] = version.Schema.OpenAPIV3Schema
			}
		}
	}
	return found
}

// jsonField is one JSON-visible field of a Go struct (inline structs flattened).
type jsonField struct {
	goName    string
	owner     reflect.Type
	typ       reflect.Type
	omitEmpty bool
}

func jsonFields(t reflect.Type) map[string]jsonField {
	fields := map[string]jsonField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, options, _ := strings.Cut(tag, ",")
		if strings.Contains(","+options+",", ",inline,") || (f.Anonymous && name == "") {
			for k, v := range jsonFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := strings.Contains(","+options+",", ",omitempty,") || strings.Contains(","+options+",", ",omitzero,")
		fields[name] = jsonField{goName: f.Name, owner: t, typ: f.Type, omitEmpty: omit}
	}
	return fields
}

var (
	thisPackage    = reflect.TypeOf(DaskCluster{}).PkgPath()
	timeType       = reflect.TypeOf(metav1.Time{})
	objectMetaType = reflect.TypeOf(metav1.ObjectMeta{})
)

// compatible says why a Go type cannot hold what the schema allows, or "" when it can.
func compatible(s *crdSchema, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch s.Type {
	case "string":
		if t == timeType || t.Kind() == reflect.String {
			return ""
		}
	case "integer":
		switch t.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64:
			return ""
		}
	case "number":
		switch t.Kind() {
		case reflect.Float32, reflect.Float64:
			return ""
		}
	case "boolean":
		if t.Kind() == reflect.Bool {
			return ""
		}
	case "array":
		if t.Kind() == reflect.Slice {
			return ""
		}
	case "object":
		if t.Kind() == reflect.Struct && t != timeType || t.Kind() == reflect.Map {
			return ""
		}
	case "":
		return ""
	}
	return fmt.Sprintf("the CRD says %q but the Go type is %s", s.Type, t)
}

// compare walks schema s and Go type t together; path is the JSON path for messages.
func compare(path string, s *crdSchema, t reflect.Type, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if why := compatible(s, t); why != "" {
		*problems = append(*problems, fmt.Sprintf("%s: %s", path, why))
		return
	}
	switch t.Kind() {
	case reflect.Slice:
		if s.Items != nil {
			compare(path+"[]", s.Items, t.Elem(), problems)
		}
		return
	case reflect.Map:
		if s.AdditionalProperties != nil {
			compare(path+"{}", s.AdditionalProperties, t.Elem(), problems)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	if t == timeType {
		return
	}
	fields := jsonFields(t)
	for _, name := range sortedKeys(s.Properties) {
		field, ok := fields[name]
		if !ok {
			*problems = append(*problems, fmt.Sprintf(
				"%s.%s (%s) is in the CRD but Go type %s has no field with json name %q: add it to %s",
				path, name, s.Properties[name].Type, t.Name(), name, t.Name()))
			continue
		}
		compare(path+"."+name, s.Properties[name], field.typ, problems)
	}
	for _, name := range s.Required {
		field, ok := fields[name]
		if !ok {
			if s.Properties[name] == nil {
				*problems = append(*problems, fmt.Sprintf(
					"%s.%s is required by the CRD but Go type %s has no field with json name %q",
					path, name, t.Name(), name))
			}
			continue
		}
		if field.omitEmpty {
			*problems = append(*problems, fmt.Sprintf(
				"%s.%s is required by the CRD but %s.%s is omitempty in Go: a zero value is dropped",
				path, name, t.Name(), field.goName))
		}
	}
	if t.PkgPath() != thisPackage || (len(s.Properties) == 0 && s.PreserveUnknown) {
		return
	}
	for _, name := range sortedKeys(fields) {
		if name == "apiVersion" || name == "kind" || fields[name].typ == objectMetaType {
			continue // the object envelope: the API server defines it, CRD schemas may leave it out
		}
		if _, ok := s.Properties[name]; ok {
			continue
		}
		if _, ok := goOnlyFields[strings.TrimPrefix(path, ".")+"."+name]; ok {
			continue
		}
		*problems = append(*problems, fmt.Sprintf(
			"%s.%s is Go field %s.%s but the CRD has no property %q there: add it to the CRD or remove it",
			path, name, t.Name(), fields[name].goName, name))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kinds maps each CRD kind to its Go type; a CRD without a Go type (or the reverse) is drift too.
var kinds = map[string]reflect.Type{
	"DaskCluster":     reflect.TypeOf(DaskCluster{}),
	"DaskWorkerGroup": reflect.TypeOf(DaskWorkerGroup{}),
	"DaskJob":         reflect.TypeOf(DaskJob{}),
	"DaskAutoscaler":  reflect.TypeOf(DaskAutoscaler{}),
}

// schemaDrift lists every disagreement between the CRDs and the Go types.
func schemaDrift(schemas map[string]*crdSchema) []string {
	var problems []string
	for _, kind := range sortedKeys(schemas) {
		t, ok := kinds[kind]
		if !ok {
			problems = append(problems, fmt.Sprintf("CRD kind %s has no Go type in package v1", kind))
			continue
		}
		compare(kind, schemas[kind], t, &problems)
	}
	for _, kind := range sortedKeys(kinds) {
		if _, ok := schemas[kind]; !ok {
			problems = append(problems, fmt.Sprintf("Go type %s has no CRD", kind))
		}
	}
	return problems
}

func TestGoTypesMatchCRDSchemas(t *testing.T) {
	for _, problem := range schemaDrift(loadSchemas(t)) {
		t.Errorf("schema drift: %s", problem)
	}
}

// The check itself must catch drift: a CRD property without a Go field, a Go field without a CRD
// property, a type mismatch and an omitempty required field, each named precisely.
func TestSchemaDriftIsDetected(t *testing.T) {
	schemas := loadSchemas(t)
	spec := schemas["DaskCluster"].Properties["spec"]
	spec.Properties["injectedOnlyInCRD"] = &crdSchema{Type: "object"}
	delete(schemas["DaskAutoscaler"].Properties["status"].Properties, "desired")
	schemas["DaskWorkerGroup"].Properties["spec"].Properties["cluster"].Type = "integer"
	schemas["DaskCluster"].Properties["status"].Required = []string{"phase"}
	got := strings.Join(schemaDrift(schemas), "\n")
	for _, want := range []string{
		`DaskCluster.spec.injectedOnlyInCRD (object) is in the CRD but Go type DaskClusterSpec has no field with json name "injectedOnlyInCRD"`,
		`DaskAutoscaler.status.desired is Go field DaskAutoscalerStatus.Desired but the CRD has no property "desired"`,
		`DaskWorkerGroup.spec.cluster: the CRD says "integer" but the Go type is string`,
		`DaskCluster.status.phase is required by the CRD but DaskClusterStatus.Phase is omitempty`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("drift not reported: %q\ngot:\n%s", want, got)
		}
	}
}

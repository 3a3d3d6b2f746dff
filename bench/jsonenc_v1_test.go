//go:build !goexperiment.jsonv2

package bench

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"
)

// jsonEncoders are the implementations of the default build: encoding/json
// as released, which the json codec uses, and goccy/go-json, which only
// this module may import.
func jsonEncoders() []jsonEncoder {
	return []jsonEncoder{
		{"v1", json.Marshal, json.Unmarshal},
		{"goccy", gojson.Marshal, gojson.Unmarshal},
	}
}

var updateJSON = flag.Bool("update", false, "rewrite testdata/jsonv1.txt from encoding/json")

// TestJSONv1Golden checks that testdata/jsonv1.txt is what encoding/json
// writes and reads for the cases, so that TestJSONv2Output compares v2
// with encoding/json as released (the jsonv2 build cannot run it). With
// -update it rewrites the file.
func TestJSONv1Golden(t *testing.T) {
	got := jsonResults(jsonEncoders()[0])
	if *updateJSON {
		var b strings.Builder
		for _, name := range jsonCaseNames() {
			b.WriteString(name + "\t" + got[name] + "\n")
		}
		if err := os.WriteFile(jsonV1Golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readJSONGolden(t)
	if len(want) != len(got) {
		t.Errorf("%s has %d cases, the test %d (rewrite it with -update)", jsonV1Golden, len(want), len(got))
	}
	for _, d := range jsonDiffers(got, want) {
		t.Errorf("encoding/json no longer gives the golden result: %s", d)
	}
}

// TestJSONGoccyOutput records where goccy/go-json writes or reads
// otherwise than encoding/json; go test -v lists the cases.
func TestJSONGoccyOutput(t *testing.T) {
	diffs := jsonDiffers(jsonResults(jsonEncoders()[1]), readJSONGolden(t))
	for _, d := range diffs {
		t.Logf("differs: goccy %s", d)
	}
	t.Logf("goccy: %d of %d cases differ from encoding/json", len(diffs), len(jsonCaseNames()))
}

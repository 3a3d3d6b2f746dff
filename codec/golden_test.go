package codec

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files and the generated fuzz seeds in testdata")

func goldenPath(c Codec) string {
	return filepath.Join("testdata", "golden."+c.Name())
}

// TestGolden checks that each codec still decodes testdata/golden.<name>,
// written by an earlier build, back to goldenValue: records already in
// stores stay readable. JSON's bytes are deterministic, so for JSON it also
// checks that Marshal gives exactly the file's bytes. With -update it
// rewrites the files first.
func TestGolden(t *testing.T) {
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		t.Run(c.Name(), func(t *testing.T) {
			want := goldenValue()
			path := goldenPath(c)
			if *update {
				if err := os.WriteFile(path, mustMarshal(t, c, want), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./codec -run TestGolden -update to create it)", err)
			}
			if got := mustMarshal(t, c, want); c == JSON && !bytes.Equal(got, golden) {
				t.Errorf("Marshal differs from %s:\n got %q\nwant %q", path, got, golden)
			}
			var back testValue
			if err := c.Unmarshal(golden, &back); err != nil {
				t.Fatalf("Unmarshal(%s): %v", path, err)
			}
			if !equalTestValues(back, want) {
				t.Errorf("round trip of %s:\n got %+v\nwant %+v", path, back, want)
			}
		})
	}
}

// TestGoldenDeterministic checks that JSON encodes equal values to equal
// bytes, maps and struct fields included.
func TestGoldenDeterministic(t *testing.T) {
	v := goldenValue()
	v.Counts = make(map[string]int)
	for i := range 50 {
		v.Counts[fmt.Sprintf("key-%02d", i)] = i
	}
	type withMaps struct {
		IntKeys  map[int]string      `json:"int_keys"`
		Lists    map[string][]string `json:"lists"`
		Value    testValue           `json:"value"`
		AnyValue map[string]any      `json:"any_value" session:"loose"`
	}
	w := withMaps{
		IntKeys:  map[int]string{},
		Lists:    map[string][]string{},
		Value:    v,
		AnyValue: map[string]any{"b": map[string]int{"y": 1, "x": 2, "z": 3}, "a": []any{1, "two"}},
	}
	for i := range 40 {
		w.IntKeys[i*7-100] = strconv.Itoa(i)
		w.Lists[strconv.Itoa(i)] = []string{"x", strconv.Itoa(i)}
	}
	for _, c := range []Codec{JSON} {
		first := mustMarshal(t, c, w)
		for range 30 {
			if again := mustMarshal(t, c, w); !bytes.Equal(again, first) {
				t.Fatalf("%s: two encodings of one value differ", c.Name())
			}
		}
		var back withMaps
		if err := c.Unmarshal(first, &back); err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		if len(back.IntKeys) != 40 || len(back.Lists) != 40 || !equalTestValues(back.Value, v) {
			t.Fatalf("%s: round trip lost data: %+v", c.Name(), back)
		}
	}
}

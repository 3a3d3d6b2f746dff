package codec

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files and the generated fuzz seeds in testdata")

// goldenChildEnv is set in the fresh process that checks the gob golden.
const goldenChildEnv = "CODEC_GOLDEN_GOB_CHILD"

func goldenPath(c Codec) string {
	return filepath.Join("testdata", "golden."+c.Name())
}

// TestGolden checks that each codec encodes goldenValue to exactly the
// bytes of testdata/golden.<name>, and decodes those bytes back to it.
// With -update it rewrites the files first.
func TestGolden(t *testing.T) {
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		t.Run(c.Name(), func(t *testing.T) {
			if c == Gob && os.Getenv(goldenChildEnv) == "" {
				// gob numbers types in the order a process first
				// encodes them, so its bytes depend on what ran
				// before: check (or -update) in a fresh process.
				args := []string{"-test.run=^TestGolden$/^gob$", "-test.count=1", "-test.v"}
				if *update {
					args = append(args, "-update")
				}
				cmd := exec.Command(os.Args[0], args...)
				cmd.Env = append(os.Environ(), goldenChildEnv+"=1")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("gob golden check in a fresh process: %v\n%s", err, out)
				}
				return
			}
			want := goldenValue()
			got := mustMarshal(t, c, want)
			path := goldenPath(c)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./codec -run TestGolden -update to create it)", err)
			}
			if c == Gob {
				// gob writes map entries in Go's random map iteration
				// order, so equal values can encode differently: try
				// until the order matches (a 3-entry map has at most 6
				// orders; 500 misses in a row would take a broken
				// encoder).
				for i := 0; i < 500 && !bytes.Equal(got, golden); i++ {
					got = mustMarshal(t, c, want)
				}
			}
			if !bytes.Equal(got, golden) {
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

// TestGoldenDeterministic checks that JSON and MsgPack encode equal values
// to equal bytes, maps and struct fields included.
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
		AnyValue map[string]any      `json:"any_value"`
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
	for _, c := range []Codec{JSON, MsgPack} {
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

// TestGenerateSeeds writes the fuzz seed corpora under -update: the golden
// encodings and the adversarial inputs of the bounded-decoding tests.
// Without -update it checks the seeds are present.
func TestGenerateSeeds(t *testing.T) {
	seeds := map[string]map[string][]byte{
		"FuzzJSON":    {},
		"FuzzMsgPack": adversarialMsgpack(),
		"FuzzGob":     adversarialGob(t),
	}
	for name, in := range adversarialJSON() {
		seeds["FuzzJSON"][name] = in
	}
	for _, c := range []Codec{JSON, MsgPack, Gob} {
		golden, err := os.ReadFile(goldenPath(c))
		if err != nil {
			t.Fatal(err)
		}
		fuzz := map[string]string{"json": "FuzzJSON", "msgpack": "FuzzMsgPack", "gob": "FuzzGob"}[c.Name()]
		seeds[fuzz]["golden"] = golden
		seeds[fuzz]["session"] = mustMarshal(t, c, benchSession())
	}
	registerGob()
	seeds["FuzzGob"]["interfaces"] = mustMarshal(t, Gob, ifaceValue{
		ID:    7,
		Extra: gobExtra{Label: "x", Tags: []string{"a"}},
		List:  []any{"s", 3, nil},
		Props: map[string]any{"n": nil, "k": 1.5},
	})
	for fuzz, inputs := range seeds {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		for name, in := range inputs {
			path := filepath.Join(dir, "seed-"+name)
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(in)) + ")\n"
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (run go test ./codec -run TestGenerateSeeds -update)", err)
				continue
			}
			if fuzz != "FuzzGob" && string(got) != content {
				// Gob encodings vary with the process's type numbering.
				t.Errorf("%s is stale (run go test ./codec -run TestGenerateSeeds -update)", path)
			}
		}
	}
}

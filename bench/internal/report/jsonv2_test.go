package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const jsonFixture = `# bench/scripts/jsonv2.sh -count 2 -instr-n 201, from bench/:
command: go test -c -o v1.test .
date: 2026-01-02T03:04Z
commit: abc1234
BenchmarkJSONEncoders/size=1KB/op=encode/lib=v1-2   100  1000 ns/op  1024 B/op  1 allocs/op
BenchmarkJSONEncoders/size=1KB/op=encode/lib=goccy-2   100  400 ns/op  1024 B/op  1 allocs/op
BenchmarkJSONEncoders/size=1KB/op=decode/lib=v1-2   100  4000 ns/op  2048 B/op  40 allocs/op
BenchmarkJSONEncoders/size=1KB/op=encode/lib=v2-2   100  800 ns/op  1024 B/op  1 allocs/op
BenchmarkJSONEncoders/size=1KB/op=decode/lib=v2-2   100  2000 ns/op  2000 B/op  32 allocs/op
BenchmarkJSONEncoders/size=1KB/op=encode/lib=v1-2   100  1200 ns/op  1024 B/op  1 allocs/op
BenchmarkJSONEncoders/size=1KB/op=encode/lib=goccy-2   100  400 ns/op  1024 B/op  1 allocs/op
BenchmarkJSONEncoders/size=1KB/op=decode/lib=v1-2   100  4000 ns/op  2048 B/op  40 allocs/op
BenchmarkJSONEncoders/size=1KB/op=encode/lib=v2-2   100  800 ns/op  1024 B/op  1 allocs/op
BenchmarkJSONEncoders/size=1KB/op=decode/lib=v2-2   100  2000 ns/op  2000 B/op  32 allocs/op
goccy: 0 of 3 cases differ from encoding/json
differs: v2 encode map-nil: "{}", v1 "null"
differs: v2 decode duplicate-name: error, v1 "&bench.UserSession{}"
v2: 2 of 3 cases differ from encoding/json

# Instructions per operation: scripts/instructions.sh 201 NAME...
instructions: BenchmarkJSONEncoders/size=1KB/op=encode/lib=v1	20000
instructions: BenchmarkJSONEncoders/size=1KB/op=encode/lib=v2	25000
`

func TestJSONSection(t *testing.T) {
	r, err := ParseJSON([]byte(jsonFixture))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeJSON(&b, r)
	md := b.String()
	for _, want := range []string{
		"Measured on 2026-01-02T03:04Z at commit abc1234 by `bench/scripts/jsonv2.sh -count 2 -instr-n 201`",
		"go test -c -o v1.test .\nscripts/instructions.sh 201 NAME...\n",
		// Median 1,100 ns; the v1 row divides by itself.
		"| 1KB | encode | v1 | 1,100 | 9% | 1.00× | 1,024 | 1 | 20,000 | 1.00× |\n" +
			"| 1KB | encode | goccy | 400 | 0.0% | 0.36× | 1,024 | 1 |  |  |\n" +
			"| 1KB | encode | v2 | 800 | 0.0% | 0.73× | 1,024 | 1 | 25,000 | 1.25× |\n" +
			"| 1KB | decode | v1 | 4,000 |",
		"| 1KB | decode | v2 | 2,000 | 0.0% | 0.50× | 2,000 | 32 |  |  |\n",
		"| goccy | 0 of 3 |\n| v2 | 2 of 3: encode map-nil, decode duplicate-name |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the section lacks %q:\n%s", want, md)
		}
	}
}

func TestParseJSONRejectsMissingDiffers(t *testing.T) {
	in := strings.Replace(jsonFixture, "differs: v2 encode map-nil", "other: v2 encode map-nil", 1)
	if _, err := ParseJSON([]byte(in)); err == nil {
		t.Error("ParseJSON accepted a count of 2 with one differs: line")
	}
}

// TestLoadWithoutJSON checks that the section is optional: the fixture has
// no JSONFile.
func TestLoadWithoutJSON(t *testing.T) {
	dir := filepath.Join("testdata", "fixture")
	if _, err := os.Stat(filepath.Join(dir, JSONFile)); err == nil {
		t.Skip("the fixture has a JSONFile")
	}
	in, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.JSON != nil {
		t.Error("Load made a JSON section of no file")
	}
}
